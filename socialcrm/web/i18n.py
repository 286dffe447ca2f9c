"""German and English for the web app: language negotiation, message lookup, dates and numbers.

Messages are keyed by their English text; ``locale_de.CATALOGUE`` holds the German. Times are
shown in the user's time zone (render.zone_name_of; the footer names it) and numbers use each
language's separators, so no locale data package is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

# The formats live in the core (reply texts use them too); the web app reaches them through here.
from socialcrm.formatting import MONTHS_EN
from socialcrm.formatting import format_date as format_date
from socialcrm.formatting import format_datetime as format_datetime
from socialcrm.formatting import format_duration as format_duration
from socialcrm.formatting import format_number as format_number
from socialcrm.formatting import format_percent as format_percent
from socialcrm.models import UI_LANGUAGES
from socialcrm.web.locale_de import CATALOGUE as GERMAN

_MONTHS_EN = MONTHS_EN  # the dashboard's short day labels use it


def negotiate(user_language: str | None, accept_language: str | None, default: str) -> str:
    """The user's stored choice wins, then the browser's Accept-Language, then the configured default."""
    if user_language in UI_LANGUAGES:
        return str(user_language)
    for tag, _quality in _parse_accept_language(accept_language or ""):
        primary = tag.split("-", 1)[0].lower()
        if primary in UI_LANGUAGES:
            return primary
    return default if default in UI_LANGUAGES else "en"


def _parse_accept_language(header: str) -> list[tuple[str, float]]:
    entries: list[tuple[str, float]] = []
    for part in header.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:
            entries.append((tag.strip(), quality))
    return sorted(entries, key=lambda item: -item[1])


# English labels of composed keys ("status:new"); others show the part after the colon.
ENGLISH = {
    "role:admin": "admin",
    "role:community": "community manager",
    "role:service": "service agent",
    "role:marketing": "marketing",
    "sentiment:none": "not rated",
    "sentiment:unknown": "not rated",
    "age:1h": "under 1 hour",
    "age:24h": "under 24 hours",
    "age:7d": "under 7 days",
    "age:older": "older than 7 days",
    "draft:pending": "waiting for review",
    "sort:due": "by due time",
    "sort:priority": "by priority",
    "sort:newest": "newest first",
    "share-of-voice:setup": (
        "It appears once mentions come from at least two query groups: give the sources that listen for your "
        'competitors their own group (group = "competitor" next to group = "brand" in their [[sources]] '
        "entries, see config.example.toml)."
    ),
}


def translate(language: str, message: str, **values: object) -> str:
    """The message in ``language`` with ``{name}`` placeholders filled in."""
    if language == "de":
        text = GERMAN.get(message, message)
    elif ":" in message and " " not in message.split(":", 1)[0]:
        text = ENGLISH.get(message) or message.split(":", 1)[1].replace("_", " ")
    else:
        text = message
    return text.format(**values) if values else text


def translator(language: str) -> Callable[..., str]:
    """``t(message, **values)`` for templates, bound to ``language``."""

    def t(message: str, **values: object) -> str:
        return translate(language, message, **values)

    return t


def format_age(value: datetime | None, now: datetime, language: str) -> str:
    """How long ago, e.g. ``3 h`` / ``vor 3 h``."""
    if value is None:
        return "–"
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 3600:
        amount = f"{seconds // 60} min"
    elif seconds < 2 * 86400:
        amount = f"{seconds // 3600} h"
    else:
        amount = f"{seconds // 86400} d"
    return f"vor {amount}" if language == "de" else f"{amount} ago"
