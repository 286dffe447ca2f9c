"""Make a decoded feed safe for an XML parser: strip the DOCTYPE, bound entity expansion, fix the prolog.

feedparser expands the entities a DOCTYPE declares without any limit (a 62 KiB feed became a
200 MB title), so no DOCTYPE ever reaches it. Plain internal entities (``<!ENTITY id "text">``,
no markup, no nested references) are still honoured: we expand them ourselves within a budget
of ``MAX_ENTITY_EXPANSION`` characters, and a document that needs more is refused as an XML bomb.
External entities (``SYSTEM``/``PUBLIC``), parameter entities and nested ones are dropped, so a
reference to them is left undefined and nothing is ever read from disk or the network.

``sniff`` looks at the first bytes only, so the fetcher can refuse an HTML page before parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_ENTITY_EXPANSION = 1_000_000
MAX_DECLARED_ENTITIES = 64
UTF8_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

_DECL_STEP = re.compile(r"""<!--|["'\[\]>]""")
_ENTITY_DECL = re.compile(r"""<!ENTITY\s+([A-Za-z_][\w.\-]*)\s+(["'])(.*?)\2\s*>""", re.DOTALL)
_SAFE_VALUE = re.compile(r"[^&<%]*|&#[0-9]+;|&#x[0-9A-Fa-f]+;")
_PREDEFINED = {"amp", "lt", "gt", "quot", "apos"}
_NAME = re.compile(r"[A-Za-z_][\w:.\-]*")
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPES = str.maketrans({'"': "&quot;", "'": "&apos;", ">": "&gt;"})
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9A-Fa-f]{1,8})|([0-9]{1,10}));")
_HIGH_SURROGATES = range(0xD800, 0xDC00)
_LOW_SURROGATES = range(0xDC00, 0xE000)


class EntityBombError(ValueError):
    """The document's entities would expand beyond the budget: an XML bomb or a broken feed."""


@dataclass
class Prolog:
    """What sits before the root element, as found by ``scan_prolog``."""

    root: str | None = None
    root_at: int = -1
    doctype: str | None = None
    doctype_spans: list[tuple[int, int]] = field(default_factory=list)
    entities: dict[str, str] = field(default_factory=dict)
    ignored_entities: int = 0


def _declaration_end(text: str, start: int) -> int:
    """Index just past the ``<!...>`` declaration at ``start`` (quotes, subsets, comments aware)."""
    depth = 0
    quote = ""
    pos = start + 2
    while True:
        if quote:
            end = text.find(quote, pos)
            if end < 0:
                return len(text)
            quote, pos = "", end + 1
            continue
        match = _DECL_STEP.search(text, pos)
        if match is None:
            return len(text)
        token, pos = match.group(), match.end()
        if token == "<!--":
            end = text.find("-->", pos)
            if end < 0:
                return len(text)
            pos = end + 3
        elif token in "\"'":
            quote = token
        elif token == "[":
            depth += 1
        elif token == "]":
            depth = max(0, depth - 1)
        elif depth == 0:  # ">"
            return pos


def scan_prolog(text: str) -> Prolog:
    """Find the root element and every ``<!...>`` declaration before it (stray text is skipped)."""
    prolog = Prolog()
    pos = 0
    length = len(text)
    while pos < length:
        lt = text.find("<", pos)
        if lt < 0 or lt + 1 >= length:
            break
        if text.startswith("<?", lt):
            end = text.find("?>", lt + 2)
            pos = length if end < 0 else end + 2
        elif text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            pos = length if end < 0 else end + 3
        elif text.startswith("<!", lt):
            end = _declaration_end(text, lt)
            declaration = text[lt:end]
            prolog.doctype_spans.append((lt, end))
            if declaration[2:9].upper() == "DOCTYPE" and prolog.doctype is None:
                name = _NAME.match(declaration[9:].lstrip())
                prolog.doctype = name.group().lower() if name else ""
            kept = len(prolog.entities)
            _collect_entities(declaration, prolog.entities)
            prolog.ignored_entities += declaration.count("<!ENTITY") - (len(prolog.entities) - kept)
            pos = end
        else:
            name = _NAME.match(text, lt + 1)
            if name is not None:
                prolog.root = name.group().lower()
                prolog.root_at = lt
                break
            pos = lt + 1
    return prolog


def _collect_entities(declaration: str, into: dict[str, str]) -> None:
    for name, _quote, value in _ENTITY_DECL.findall(declaration):
        if name in _PREDEFINED or name in into or len(into) >= MAX_DECLARED_ENTITIES:
            continue
        if _SAFE_VALUE.fullmatch(value):
            into[name] = value if value.startswith("&#") else value.translate(_ESCAPES)


def _expand_entities(body: str, entities: dict[str, str]) -> str:
    names = "|".join(re.escape(name) for name in sorted(entities, key=len, reverse=True))
    pattern = re.compile(r"<!\[CDATA\[.*?\]\]>|<!--.*?-->|&(" + names + r");", re.DOTALL)
    budget = MAX_ENTITY_EXPANSION

    def replace(match: re.Match[str]) -> str:
        nonlocal budget
        name = match.group(1)
        if name is None:
            return match.group()
        value = entities[name]
        budget -= len(value)
        if budget < 0:
            raise EntityBombError(
                f"entity expansion exceeds {MAX_ENTITY_EXPANSION:,} characters "
                f"(&{name}; is used too often: an XML bomb?)"
            )
        return value

    return pattern.sub(replace, body)


def make_parser_safe(text: str) -> tuple[str, list[str]]:
    """Return the document without DOCTYPE, with bounded entities and a UTF-8 declaration, plus notes."""
    notes: list[str] = []
    text = text.lstrip("\ufeff \t\r\n")
    if _INVALID_XML_CHARS.search(text):
        text = _INVALID_XML_CHARS.sub("", text)
        notes.append("removed control characters that XML does not allow")
    prolog = scan_prolog(text)
    body_start = prolog.root_at if prolog.root_at >= 0 else len(text)
    head = text[:body_start]
    for start, end in reversed(prolog.doctype_spans):
        head = head[:start] + head[end:]
    head = head.strip()
    if head and not head.startswith("<"):
        dropped = head.find("<") if "<" in head else len(head)
        head = head[dropped:]
        notes.append(f"dropped {dropped} characters of text before the XML")
    if head.startswith("<?xml") and len(head) > 5 and head[5] in " \t\r\n?":
        end = head.find("?>")
        head = head[end + 2 :] if end >= 0 else ""
    if prolog.ignored_entities:
        notes.append(
            f"ignored {prolog.ignored_entities} entity declaration(s) of the DOCTYPE: external, parameter "
            "and nested entities are never loaded or expanded"
        )
    body = text[body_start:]
    if prolog.entities:
        body = _expand_entities(body, prolog.entities)
    body, replaced = _fix_char_refs(body)
    if replaced:
        notes.append(
            f"replaced {replaced} character reference(s) to characters XML does not allow "
            "(a lone surrogate such as &#xD83D;, NUL, or beyond U+10FFFF) with U+FFFD"
        )
    return UTF8_DECLARATION + "\n" + head + body, notes


def _xml_allows(code: int) -> bool:
    """Whether XML 1.0 allows the character (its Char production)."""
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def _fix_char_refs(body: str) -> tuple[str, int]:
    """Join references to a surrogate pair into one; turn any other reference XML forbids into &#xFFFD;.

    feedparser crashes on ``&#xD83D;`` (it encodes the surrogate to UTF-8) and on ``&#x110000;``,
    which failed the whole feed on every poll; the entry is kept with U+FFFD instead.
    """
    if "&#" not in body:
        return body, 0
    replaced = 0
    joined_until = -1

    def code_of(match: re.Match[str]) -> int:
        hex_digits, decimal = match.group(1), match.group(2)
        return int(hex_digits, 16) if hex_digits is not None else int(decimal)

    def replace(match: re.Match[str]) -> str:
        nonlocal replaced, joined_until
        if match.start() < joined_until:
            return ""  # the low half of a pair joined just before
        code = code_of(match)
        if _xml_allows(code):
            return match.group()
        if code in _HIGH_SURROGATES:
            low = _CHAR_REF.match(body, match.end())
            if low is not None and code_of(low) in _LOW_SURROGATES:
                joined_until = low.end()
                return f"&#x{0x10000 + ((code - 0xD800) << 10) + (code_of(low) - 0xDC00):X};"
        replaced += 1
        return "&#xFFFD;"

    return _CHAR_REF.sub(replace, body), replaced


@dataclass(frozen=True)
class Sniffed:
    """A first look at a body: its root element, DOCTYPE name and first non-blank character."""

    root: str | None
    doctype: str | None
    first_char: str


def sniff(body: bytes, limit: int = 8192) -> Sniffed:
    """Look at the first ``limit`` bytes without decoding the whole body."""
    head = body[:limit]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:2] in (b"<\x00", b"\x00<"):
        text = (
            head.decode("utf-16", "ignore")
            if head[:2] in (b"\xff\xfe", b"\xfe\xff")
            else head.decode("utf-16-le" if head[:1] == b"<" else "utf-16-be", "ignore")
        )
    else:
        text = head.decode("latin-1")
    text = text.lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    prolog = scan_prolog(text)
    return Sniffed(prolog.root, prolog.doctype, text[:1])
