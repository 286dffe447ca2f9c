"""Text clean-up applied identically before training and inference: links and handles as placeholders."""

from __future__ import annotations

import re

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"(?<!\w)@\w{1,30}")
_SPACE = re.compile(r"\s+")
MAX_CHARACTERS = 4000  # the model reads at most a few hundred tokens; do not tokenise megabytes


def prepare(text: str) -> str:
    """Replace links with "http" and @handles with "@user" (as TweetEval does), collapse whitespace."""
    text = text[:MAX_CHARACTERS]
    text = _URL.sub("http", text)
    text = _HANDLE.sub("@user", text)
    return _SPACE.sub(" ", text).strip()
