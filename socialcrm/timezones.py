"""Time zones by IANA name (Europe/Berlin): checking a name, the server's own zone, the list people choose from."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from socialcrm.errors import InvalidInputError

UTC_ZONE = ZoneInfo("UTC")
_ZONEINFO_DIRS = ("/usr/share/zoneinfo/", "/usr/lib/zoneinfo/", "/usr/share/lib/zoneinfo/")


def zone(name: str | None) -> ZoneInfo | None:
    """The zone called ``name`` (an IANA name), None when it is empty or no such zone exists."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def checked_zone_name(name: str | None) -> str | None:
    """``name`` stripped when it names a time zone, None when empty; InvalidInputError saying why otherwise."""
    if name is None or not name.strip():
        return None
    cleaned = name.strip()
    if zone(cleaned) is None:
        raise InvalidInputError(f"time zone: {cleaned[:64]!r} is not an IANA time zone name such as Europe/Berlin")
    return cleaned


def _name_of_localtime() -> str | None:
    """The IANA name /etc/localtime points to (Debian, Fedora, Arch, Alpine), or None."""
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return None
    for prefix in _ZONEINFO_DIRS:
        if target.startswith(prefix):
            return target[len(prefix) :].removeprefix("posix/")
    return None


@cache
def server_zone_name() -> str:
    """The server's time zone: $TZ when it is a zone name, else /etc/timezone, else /etc/localtime's; else UTC."""
    candidates = [os.environ.get("TZ", "").removeprefix(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    candidates.append(_name_of_localtime() or "")
    for candidate in candidates:
        if zone(candidate) is not None:
            return "UTC" if candidate in ("Etc/UTC", "Etc/Universal", "UCT", "Universal", "Zulu") else candidate
    return "UTC"


def default_zone(configured: str | None) -> tzinfo:
    """The zone for people who chose none: ``[web] time_zone`` (``configured``) when set, else the server's."""
    return zone(configured) or zone(server_zone_name()) or UTC


@cache
def zone_names() -> tuple[str, ...]:
    """Every zone a person can choose, sorted: Area/City names and UTC (not the legacy aliases such as CET)."""
    names = {
        n for n in available_timezones() if "/" in n and not n.startswith(("Etc/", "posix/", "right/", "SystemV/"))
    }
    return ("UTC", *sorted(names))


def offset_segments(zone_info: tzinfo, start: datetime, end: datetime) -> tuple[tuple[datetime | None, int], ...]:
    """The UTC offsets (in seconds) ``zone_info`` has between ``start`` and ``end``, as (until, offset) pairs.

    Each offset holds up to its ``until`` (a UTC instant, exclusive); the last pair's ``until`` is
    None. A day is sampled at a time and a change is then narrowed to the second, so zones that
    change their offset at most once a day (every zone in use) are followed exactly.
    """
    return _offset_segments(zone_info, start.astimezone(UTC), end.astimezone(UTC))


@lru_cache(maxsize=256)
def _offset_segments(zone_info: tzinfo, start: datetime, end: datetime) -> tuple[tuple[datetime | None, int], ...]:
    def offset(moment: datetime) -> int:
        delta = moment.astimezone(zone_info).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments: list[tuple[datetime | None, int]] = []
    current = offset(start)
    moment = start
    while moment < end:
        following = min(moment + timedelta(days=1), end)
        if offset(following) != current:
            low, high = moment, following  # offset(low) == current, offset(high) differs
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0) if middle.microsecond else middle
                if middle <= low:
                    break
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            segments.append((high, current))
            current = offset(high)
            following = high
        moment = following
    segments.append((None, current))
    return tuple(segments)
