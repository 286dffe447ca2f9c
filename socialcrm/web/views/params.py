"""Reading query and form values with clear 400 errors naming the field and the reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from aiohttp import web


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


def integer(values: Mapping[str, Any], name: str, minimum: int | None = None) -> int | None:
    """The value of ``name`` as a whole number (at least ``minimum``), None when missing; else 400."""
    raw = text(values, name, 20)
    if raw is None:
        return None
    try:
        number = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: {raw!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise web.HTTPBadRequest(text=f"{name}: must be at least {minimum}")
    return number


def choice(values: Mapping[str, Any], name: str, allowed: Sequence[str]) -> str | None:
    """The value of ``name`` when it is one of ``allowed``, None when missing; else 400."""
    raw = text(values, name, 100)
    if raw is None:
        return None
    if raw not in allowed:
        raise web.HTTPBadRequest(text=f"{name}: {raw!r} is not one of {', '.join(allowed)}")
    return raw


def day(values: Mapping[str, Any], name: str, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` date as a UTC datetime at the start (or, with ``end``, the end) of that day."""
    raw = text(values, name, 10)
    if raw is None:
        return None
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: {raw!r} is not a date (YYYY-MM-DD)") from None
    moment = datetime.combine(parsed, time.max if end else time.min, tzinfo=UTC)
    return moment


def path_id(request: web.Request, name: str = "id") -> int:
    """The numeric id in the URL path; 404 when it is not a number."""
    raw = request.match_info.get(name, "")
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPNotFound() from None
