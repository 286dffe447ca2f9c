"""Make what connectors return storable anywhere: no lone surrogates, NULs or NaNs in text or raw payloads.

A Python string may hold a lone UTF-16 surrogate (JSON's ``"\\ud83d"``) or a NUL (``"\\u0000"``),
and ``json.loads`` accepts ``NaN``. SQLite (UTF-8) cannot store a surrogate; PostgreSQL refuses a
NUL in text and all three in ``jsonb``. One such post used to fail its whole page, on every poll,
so nothing of that source was stored again. Every batch a connector returns passes through
``storable_batch`` where it enters the core (the poller), before anything else reads it, so every
pipeline stores the same cleaned posts:

- text fields (body, title, ids, handles, URLs, the cursor, problem notes): a valid surrogate pair
  becomes its character; a lone surrogate and a NUL become U+FFFD, the replacement character;
- the raw payload keeps what was sent, safely: a lone surrogate or a NUL becomes its JSON escape
  written out as text (``\\ud83d``, six characters), a non-finite number its name (``"NaN"``).

Cleaning is deterministic, so a cleaned external id still finds its stored mention on the next poll.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from connectors import Batch, RawPost

logger = logging.getLogger(__name__)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TEXT_FIELDS = (
    "external_id",
    "url",
    "author_handle",
    "title",
    "body",
    "author_name",
    "author_url",
    "thread_id",
    "parent_id",
    "language_hint",
)
REPLACEMENT = "\ufffd"


def storable_text(value: str) -> str:
    """``value`` with surrogate pairs joined and lone surrogates and NULs replaced by U+FFFD."""
    if not _UNSTORABLE.search(value):
        return value
    joined = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return joined.replace("\x00", REPLACEMENT)


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group(0)):04x}"


def _raw_value(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub(_escape, value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {_raw_value(str(key)): _raw_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_raw_value(item) for item in value]
    return value


def storable_raw(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The raw payload, unchanged when it can be stored as it is, else with the unstorable parts escaped."""
    try:
        dumped = json.dumps(raw, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:  # NaN or Infinity somewhere
        pass
    except (TypeError, RecursionError):
        return raw  # not JSON at all: the pipeline stores a marker instead
    else:
        if not _UNSTORABLE.search(dumped) and "\\u0000" not in dumped:
            return raw
    cleaned = _raw_value(raw)
    return cleaned if isinstance(cleaned, dict) and cleaned != raw else raw


def storable_post(post: RawPost) -> RawPost:
    """``post`` with every text field and its raw payload made storable (the same object if nothing changes)."""
    changes: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = getattr(post, name)
        if isinstance(value, str):
            clean = storable_text(value)
            if clean != value:
                changes[name] = clean
    raw = storable_raw(post.raw)
    if raw is not post.raw:
        changes["raw"] = raw
    if not changes:
        return post
    logger.warning(
        "%s: post %s had characters no database stores (lone surrogates, NULs, NaN) in %s; replaced",
        post.source,
        storable_text(post.external_id),
        ", ".join(sorted(changes)),
    )
    # What a parser process computed from the text before cleaning: the pipeline computes it again.
    return dataclasses.replace(post, **changes, prepared=None)


def storable_batch(batch: Batch) -> Batch:
    """``batch`` with every post, the cursor and the problem notes made storable."""
    posts = [storable_post(post) for post in batch.posts]
    cursor = storable_text(batch.cursor) if batch.cursor is not None else None
    problems = [storable_text(problem) for problem in batch.problems]
    unchanged = (
        all(new is old for new, old in zip(posts, batch.posts, strict=True))
        and cursor == batch.cursor
        and problems == list(batch.problems)
    )
    if unchanged:
        return batch
    return dataclasses.replace(batch, posts=posts, cursor=cursor, problems=problems)
