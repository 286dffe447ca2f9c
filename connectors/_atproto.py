"""AT Protocol details the Bluesky connector needs: TIDs, grapheme counts, link facets, at:// URIs."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import regex

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID_WINDOW_US = 120 * 1_000_000
_LINK = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def encode_tid(timestamp_us: int, clock_id: int) -> str:
    """Encode a TID: 53 bits of microseconds and 10 bits of clock id, base32-sortable, 13 characters."""
    value = ((timestamp_us & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_tid(text: str) -> bool:
    """True for a syntactically valid TID (13 characters, first one 2-7 or a-j)."""
    return bool(re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", text))


def tid_time(text: str) -> datetime | None:
    """The moment a TID encodes (UTC), or None when ``text`` is not a TID."""
    if not is_tid(text):
        return None
    value = 0
    for char in text:
        value = (value << 5) | TID_ALPHABET.index(char)
    return datetime.fromtimestamp((value >> 10) / 1_000_000, tz=UTC)


def tid_for_key(idempotency_key: str, now_us: int | None = None) -> str:
    """A record key derived from the idempotency key, stable within a two-minute window.

    Bluesky only accepts caller-chosen record keys for posts when they are TIDs close to the
    current time, so the key cannot be fixed forever: the timestamp is the start of the previous
    window plus a hash-derived offset (always in the past, at most four minutes old).
    """
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).digest()
    offset = int.from_bytes(digest[:8], "big") % TID_WINDOW_US
    clock_id = int.from_bytes(digest[8:10], "big") & 0x3FF
    now = now_us if now_us is not None else time.time_ns() // 1000
    window_start = now - now % TID_WINDOW_US
    return encode_tid(window_start - TID_WINDOW_US + offset, clock_id)


def grapheme_count(text: str) -> int:
    """User-perceived characters (extended grapheme clusters), as Bluesky limits them."""
    return len(regex.findall(r"\X", text))


def link_facets(text: str) -> list[dict[str, Any]]:
    """``app.bsky.richtext.facet#link`` facets for the URLs in ``text`` (UTF-8 byte offsets)."""
    facets = []
    for match in _LINK.finditer(text):
        start = len(text[: match.start()].encode("utf-8"))
        end = start + len(match.group(0).encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": end},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": match.group(0)}],
            }
        )
    return facets


@dataclass(frozen=True, slots=True)
class AtUri:
    """``at://<repo>/<collection>/<rkey>``."""

    repo: str
    collection: str
    rkey: str

    @classmethod
    def parse(cls, uri: str) -> AtUri | None:
        match = re.fullmatch(r"at://([^/]+)/([^/]+)/([^/]+)", uri or "")
        return cls(*match.groups()) if match else None
