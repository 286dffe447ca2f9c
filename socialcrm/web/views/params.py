"""Reading query and form values with clear 400 errors naming the field and the reason."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from aiohttp import web

from socialcrm.durations import parse_duration

# The largest id (and cursor, version) a record can have: the id columns are PostgreSQL INTEGERs (32-bit).
# A larger number in a request names no record; it must not reach a query, where it would overflow.
MAX_ID = 2**31 - 1
# Page numbers stop well before an OFFSET (page x page size) could leave 64 bits.
MAX_PAGE = 1_000_000
# ASCII digits only: ``int()`` would also take "1_000", " 7" and other scripts' digits.
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def whole_number(raw: str, maximum: int = MAX_ID) -> int | None:
    """``raw`` as a whole number when it is one (ASCII digits, optional minus) no larger than ``maximum``, else None.

    Every number a request carries (path ids, cursors, pages, form ids) is read here, so a value the
    database cannot hold is turned away before it reaches a query.
    """
    if not _WHOLE_NUMBER.fullmatch(raw) or len(raw) > 20:
        return None
    number = int(raw)
    return number if number <= maximum else None


def text(values: Mapping[str, Any], name: str, max_length: int = 200) -> str | None:
    """The stripped value of ``name``, None when missing or blank; 400 when longer than ``max_length``."""
    raw = values.get(name)
    if raw is None or not isinstance(raw, str) or raw.strip() == "":
        return None
    if len(raw) > max_length:
        raise web.HTTPBadRequest(text=f"{name}: longer than {max_length} characters")
    return raw.strip()


def raw_text(values: Mapping[str, Any], name: str, max_length: int) -> str:
    """A text field as typed, spaces and line breaks kept ("" when absent); 400 when over ``max_length``.

    Browsers send line breaks as CRLF, so a text of ``max_length`` characters may arrive longer: the
    check here allows for that, the service counts the text it stores.
    """
    raw = values.get(name)
    if not isinstance(raw, str):
        return ""
    if len(raw) > 2 * max_length:
        raise web.HTTPBadRequest(text=f"{name}: longer than {max_length} characters")
    return raw


def integer(values: Mapping[str, Any], name: str, minimum: int | None = None, maximum: int = MAX_ID) -> int | None:
    """The value of ``name`` as a whole number from ``minimum`` to ``maximum``, None when missing; else 400."""
    raw = text(values, name, 40)
    if raw is None:
        return None
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise web.HTTPBadRequest(text=f"{name}: {raw!r} is not a whole number")
    number = whole_number(raw, maximum)
    if number is None:
        raise web.HTTPBadRequest(text=f"{name}: must be at most {maximum}")
    if minimum is not None and number < minimum:
        raise web.HTTPBadRequest(text=f"{name}: must be at least {minimum}")
    return number


def page(values: Mapping[str, Any], name: str = "page") -> int:
    """A page number (1 when missing); 400 when it is not one from 1 to MAX_PAGE."""
    return integer(values, name, 1, MAX_PAGE) or 1


def choice(values: Mapping[str, Any], name: str, allowed: Sequence[str]) -> str | None:
    """The value of ``name`` when it is one of ``allowed``, None when missing; else 400."""
    raw = text(values, name, 100)
    if raw is None:
        return None
    if raw not in allowed:
        raise web.HTTPBadRequest(text=f"{name}: {raw!r} is not one of {', '.join(allowed)}")
    return raw


def day(values: Mapping[str, Any], name: str, *, end: bool = False, zone: tzinfo = UTC) -> datetime | None:
    """A ``YYYY-MM-DD`` date as the start (or, with ``end``, the end) of that day in ``zone`` (UTC unless given)."""
    raw = text(values, name, 10)
    if raw is None:
        return None
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: {raw!r} is not a date (YYYY-MM-DD)") from None
    moment = datetime.combine(parsed, time.max if end else time.min, tzinfo=zone)
    return moment


def duration(values: Mapping[str, Any], name: str) -> timedelta | None:
    """A duration such as ``30d`` or ``12h``, None when missing or blank; else 400."""
    raw = text(values, name, 32)
    if raw is None:
        return None
    try:
        return parse_duration(raw)
    except ValueError as err:
        raise web.HTTPBadRequest(text=f"{name}: {err}") from None


def path_id(request: web.Request, name: str = "id") -> int:
    """The record id in the URL path; 404 when it is not a number a record can have (1 to MAX_ID)."""
    number = whole_number(request.match_info.get(name, ""))
    if number is None or number < 1:
        raise web.HTTPNotFound()
    return number
