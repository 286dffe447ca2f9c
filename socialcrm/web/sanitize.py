"""Post content for display: plain text escaped and passed through nh3; URLs limited to http(s)."""

from __future__ import annotations

from urllib.parse import urlsplit

import nh3
from markupsafe import Markup, escape

_RICH_TAGS = {"p", "br", "b", "i", "em", "strong", "ul", "ol", "li", "blockquote", "code", "pre", "a"}


def post_html(text: str | None) -> Markup:
    """A post's plain text as HTML: every character escaped, line breaks kept, then cleaned by nh3."""
    escaped = str(escape(text or "")).replace("\r\n", "\n").replace("\n", "<br>")
    return Markup(nh3.clean(escaped, tags={"br"}, attributes={}, url_schemes=set()))


def rich_html(html: str | None) -> Markup:
    """Untrusted HTML reduced to a few formatting tags and http(s) links that open nothing else."""
    cleaned = nh3.clean(
        html or "",
        tags=_RICH_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow ugc",
    )
    return Markup(cleaned)


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
