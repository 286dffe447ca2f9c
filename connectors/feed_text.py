"""HTML to plain text for feed entries: block elements become line breaks, scripts and styles vanish.

The result is plain text, never markup: entities are decoded, images leave their ``alt`` text
(WordPress turns emoji into ``<img alt="😀">``), links leave their words, and whitespace is
collapsed the way a browser would, except inside ``<pre>``. The web app escapes and sanitises
whatever it shows; this module only decides what the words are.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BLOCK_TAGS = frozenset(
    "address article aside blockquote br caption dd details dialog div dl dt fieldset figcaption "
    "figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table "
    "tbody thead tfoot tr ul".split()
)
CELL_TAGS = frozenset({"td", "th"})
SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "iframe", "svg", "head", "math"})
VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())

_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_LINE, _PARAGRAPH = "\x01", "\x02"  # block boundaries, collapsed when they meet
_BOUNDARIES = re.compile(r"[ \x01\x02]*[\x01\x02][ \x01\x02]*")
_PRE = str.maketrans({"\n": "\x00", " ": "\x03", "\t": "\x04"})
_UNPRE = str.maketrans({"\x00": "\n", "\x03": " ", "\x04": "\t"})
_PARAGRAPH_TAGS = frozenset({"p", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})
_MAYBE_HTML = re.compile(r"<[A-Za-z!/]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0

    def _boundary(self, tag: str) -> None:
        self.parts.append(_PARAGRAPH if tag in _PARAGRAPH_TAGS else _LINE)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_TAGS:
            if tag not in VOID_TAGS:
                self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag == "pre":
            self.pre_depth += 1
        if tag == "br":
            self.parts.append("\x00")
        elif tag in BLOCK_TAGS:
            self._boundary(tag)
            if tag == "li":
                self.parts.append("- ")
        elif tag in CELL_TAGS:
            self.parts.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f" {alt} " if len(alt) > 2 else alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_TAGS:
            return
        self.handle_starttag(tag, attrs)
        if tag == "pre" and self.pre_depth:
            self.pre_depth -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag == "pre" and self.pre_depth:
            self.pre_depth -= 1
        if tag in BLOCK_TAGS and tag != "br":
            self._boundary(tag)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            self.parts.append(data.replace("\r\n", "\n").translate(_PRE))
        else:
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Return the readable text of an HTML fragment or document."""
    if not html:
        return ""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    text = _BOUNDARIES.sub(lambda m: "\n\n" if _PARAGRAPH in m.group() else "\n", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    joined = "\n".join(lines).translate(_UNPRE)
    return _BLANK_LINES.sub("\n\n", joined).strip()


def looks_like_html(text: str) -> bool:
    """True when ``text`` contains a tag or an entity, so it needs ``html_to_text``."""
    return bool(_MAYBE_HTML.search(text))


def plain_text(value: str, content_type: str | None) -> str:
    """Text of a feed field given its declared type (``text/plain``, ``text/html``, ``xhtml``)."""
    if content_type and "html" not in content_type and not looks_like_html(value):
        return _tidy(_SPACES.sub(" ", value)) if "\n" not in value else _tidy(value)
    return html_to_text(value)
