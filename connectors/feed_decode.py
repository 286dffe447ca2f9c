"""Turn a feed's bytes into text: BOMs, HTTP charset, XML declaration and the wrong prologs of real feeds.

The rules, in order (the first that applies wins):

1. a byte-order mark (UTF-8, UTF-16, UTF-32), or the UTF-16/32 byte pattern of ``<`` or ``<?``;
2. UTF-8, whatever the document declares, when the body is valid UTF-8: text in a single-byte
   charset is practically never valid UTF-8, while feeds that declare ISO-8859-1 or windows-1252
   but are really UTF-8 are common (miniflux and browsers' sniffers do the same); also when at
   least four in five of its non-ASCII sequences are valid UTF-8 (a UTF-8 feed with a few stray
   Latin-1 bytes pasted in);
3. the HTTP ``charset`` parameter, then the XML declaration's ``encoding``; labels that browsers
   treat as windows-1252 (ISO-8859-1, US-ASCII) are decoded as windows-1252;
4. when the document declares nothing, a statistical guess (charset_normalizer) for non-Latin
   charsets such as KOI8-R, Big5 or Shift_JIS;
5. otherwise, and wherever UTF-8 is used on a body that is not entirely valid, "mixed": valid
   UTF-8 sequences as UTF-8, every other byte as windows-1252 (ISO-8859-1 where windows-1252
   leaves a byte undefined). Nothing is ever lost to U+FFFD except in UTF-16/32.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']\s*([A-Za-z0-9._:\-]+)\s*["']""")
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_HIGH_BYTES = bytes(range(128, 256))
_CHARSET_PARAM = re.compile(r"""charset\s*[=:]\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.IGNORECASE)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_WIDE_PATTERNS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
# Labels that the WHATWG encoding standard (what browsers do) maps to windows-1252.
_WINDOWS_1252_ALIASES = {"cp1252", "iso8859-1", "ascii"}
# Guesses we do not trust on short texts: for Western text windows-1252 is the better bet.
_LATIN_GUESSES = {
    codecs.lookup(name).name
    for name in (
        "ascii latin_1 cp1252 cp1250 cp1254 cp1257 iso8859_2 iso8859_3 iso8859_4 iso8859_9 iso8859_10 "
        "iso8859_13 iso8859_14 iso8859_15 iso8859_16 mac_roman mac_latin2 mac_iceland mac_turkish "
        "cp437 cp850 cp852 cp858 hp_roman8"
    ).split()
}


def http_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header value, if any."""
    if not content_type:
        return None
    match = _CHARSET_PARAM.search(content_type)
    return match.group(1) if match else None


def declared_xml_encoding(body: bytes) -> str | None:
    """The ``encoding`` of an ASCII-compatible XML declaration, if any."""
    match = _XML_ENCODING.match(body[:512])
    return match.group(1).decode("ascii") if match else None


def _codec_name(label: str) -> str | None:
    try:
        return codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None


def _try_decode(body: bytes, label: str) -> str | None:
    name = _codec_name(label)
    if name is None or name.startswith(("utf-16", "utf-32")):
        return None  # wide encodings were handled by BOM / byte pattern; a label alone is not enough
    candidates = ["cp1252", "latin-1"] if name in _WINDOWS_1252_ALIASES else [name]
    for candidate in candidates:
        try:
            return body.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _guess(body: bytes) -> tuple[str, str] | None:
    best = from_bytes(body[:65536]).best()
    if best is None or _codec_name(best.encoding) in _LATIN_GUESSES:
        return None
    text = _try_decode(body, best.encoding)
    return None if text is None else (text, best.encoding)


def _windows_1252_byte(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    byte = error.object[error.start : error.start + 1]
    try:
        return byte.decode("cp1252"), error.start + 1
    except UnicodeDecodeError:
        return byte.decode("latin-1"), error.start + 1


codecs.register_error("socialcrm-feed-windows-1252", _windows_1252_byte)


def decode_mixed(body: bytes) -> str:
    """UTF-8 where the bytes are valid UTF-8, windows-1252 (then ISO-8859-1) for every other byte."""
    return body.decode("utf-8", "socialcrm-feed-windows-1252")


def _mostly_utf8(body: bytes) -> bool:
    sequences = _UTF8_MULTIBYTE.findall(body)
    if not sequences:
        return False
    high = len(body) - len(body.translate(None, _HIGH_BYTES))
    stray = high - sum(map(len, sequences))
    return stray * 4 <= len(sequences)


def decode_feed_bytes(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Return ``(text, encoding)`` for a feed body, following the rules in the module docstring."""
    if body.startswith(codecs.BOM_UTF8):
        return decode_mixed(body[len(codecs.BOM_UTF8) :]), "utf-8"
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, "replace"), name
    for pattern, name in _WIDE_PATTERNS:
        if body.startswith(pattern):
            return body.decode(name, "replace"), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(body):
        return decode_mixed(body), "utf-8+windows-1252"
    declared = [label for label in (http_charset(content_type), declared_xml_encoding(body)) if label]
    for label in declared:
        if _codec_name(label) == "utf-8":
            return decode_mixed(body), "utf-8+windows-1252"
        text = _try_decode(body, label)
        if text is not None:
            return text, _codec_name(label) or label
    if not declared:
        guessed = _guess(body)
        if guessed is not None:
            return guessed
    return decode_mixed(body), "windows-1252"
