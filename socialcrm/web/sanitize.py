"""Post content for display: plain text escaped and passed through nh3; URLs limited to http(s)."""

from __future__ import annotations

from urllib.parse import urlsplit

import nh3
from markupsafe import Markup, escape


def post_html(text: str | None) -> Markup:
    """A post's plain text as HTML: every character escaped, line breaks kept, then cleaned by nh3."""
    escaped = str(escape(text or "")).replace("\r\n", "\n").replace("\n", "<br>")
    return Markup(nh3.clean(escaped, tags={"br"}, attributes={}, url_schemes=set()))


def plain(value: object) -> str:
    """A rule's expected/found value as short text: lists joined, mappings as key=value, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(plain(item) for item in value) or "–"
    if isinstance(value, dict):
        return ", ".join(f"{key}={plain(item)}" for key, item in value.items()) or "–"
    return str(value)


def safe_url(url: str | None) -> str:
    """The URL when it is http(s), else ``#`` (so ``javascript:`` never lands in an href)."""
    if not url:
        return "#"
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return "#"
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return candidate
    return "#"
