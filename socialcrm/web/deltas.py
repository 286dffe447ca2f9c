"""How a dashboard figure changed against the previous period: a count, a share or a duration, per language."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from markupsafe import Markup, escape

from socialcrm.web import i18n

Worse = Literal["up", "down"] | None


def _direction(difference: float) -> str:
    return "up" if difference > 0 else "down" if difference < 0 else "same"


def _signed(text: str, difference: float) -> str:
    if difference > 0:
        return "+" + text
    if difference < 0:
        return "−" + text  # a real minus sign
    return "±" + text


def _span(direction: str, worse: Worse, text: str, previous: str, language: str) -> Markup:
    verdict = "" if worse is None or direction == "same" else (" bad" if direction == worse else " good")
    before = i18n.translate(language, "previous period: {value}", value=previous)
    return Markup('<span class="delta {direction}{verdict}" title="{before}">{text}</span>').format(
        direction=direction, verdict=verdict, before=before, text=escape(text)
    )


def count(current: int, previous: int, language: str, worse: Worse = None) -> Markup:
    """``+3 (+25 %)`` against the previous count; ``+3 (new)`` when there were none before."""
    difference = current - previous
    number = _signed(i18n.format_number(abs(difference), language), difference)
    if previous:
        relative = _signed(i18n.format_percent(abs(difference) / previous, language), difference)
        text = f"{number} ({relative})"
    elif current:
        text = f"{number} ({i18n.translate(language, 'new')})"
    else:
        text = number
    return _span(_direction(difference), worse, text, i18n.format_number(previous, language), language)


def share(current: float | None, previous: float | None, language: str, worse: Worse = None) -> Markup:
    """The change of a share in percentage points (``+4.5 pp`` / ``+4,5 Pp.``); empty when either is unknown."""
    if current is None or previous is None:
        return Markup("")
    points = round((current - previous) * 100, 1)
    unit = "Pp." if language == "de" else "pp"
    text = _signed(f"{i18n.format_number(abs(points), language, 1)} {unit}", points)
    return _span(_direction(points), worse, text, i18n.format_percent(previous, language), language)


def duration(current: timedelta | None, previous: timedelta | None, language: str, worse: Worse = "up") -> Markup:
    """The change of a duration (``−1 h 05 min``); empty when either is unknown."""
    if current is None or previous is None:
        return Markup("")
    seconds = (current - previous).total_seconds()
    text = _signed(i18n.format_duration(abs(seconds), language), seconds)
    return _span(_direction(seconds), worse, text, i18n.format_duration(previous, language), language)
