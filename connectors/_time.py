"""Parse the timestamps platforms send into tz-aware UTC datetimes, and format them back."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_iso(value: object) -> datetime | None:
    """Parse an ISO-8601 timestamp (``Z`` or an offset; naive means UTC); None when unusable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def from_epoch(value: object) -> datetime | None:
    """Turn epoch seconds (int, float or numeric string) into UTC; None when unusable."""
    try:
        return datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def iso_millis(when: datetime) -> str:
    """``2025-05-19T17:10:09.813Z``: the form atproto and most JSON APIs expect."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
