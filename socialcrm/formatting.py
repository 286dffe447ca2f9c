"""Dates and numbers written the German or the English way, for the web app and for reply texts.

Times are written in the zone the caller gives (the web app: the user's; reply texts and exports: UTC).
No locale data package is needed: the two languages the application writes in are spelled out here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_datetime(value: datetime | None, language: str, zone: tzinfo = UTC) -> str:
    """``27.11.2026 14:05`` in German, ``27 Nov 2026 14:05`` in English, in ``zone`` (UTC unless given)."""
    if value is None:
        return "–"
    value = value.astimezone(zone)
    if language == "de":
        return value.strftime("%d.%m.%Y %H:%M")
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year} {value:%H:%M}"


def format_date(value: date | None, language: str, zone: tzinfo = UTC) -> str:
    """``01.10.2026`` in German, ``1 Oct 2026`` in English (a datetime's day in ``zone``, UTC unless given)."""
    if value is None:
        return "–"
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(zone)
    if language == "de":
        return f"{value.day:02d}.{value.month:02d}.{value.year}"
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


def format_number(value: float | int | None, language: str, decimals: int = 0) -> str:
    """Thousands and decimal separators: ``1.234,5`` in German, ``1,234.5`` in English."""
    if value is None:
        return "–"
    text = f"{value:,.{decimals}f}"
    if language == "de":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def format_percent(value: float | None, language: str) -> str:
    """A share (0..1) as a percentage with one decimal: ``12,5 %`` in German, ``12.5%`` in English."""
    if value is None:
        return "–"
    number = format_number(value * 100, language, 1)
    return f"{number} %" if language == "de" else f"{number}%"


def format_duration(value: timedelta | float | None, language: str) -> str:
    """A duration as hours and minutes (``2 h 05 min``) or days (``3,5 d`` / ``3.5 d``)."""
    if value is None:
        return "–"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        seconds = 0
    if seconds >= 2 * 86400:
        return f"{format_number(seconds / 86400, language, 1)} d"
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


# Order statuses as shops export them (WooCommerce, Shopify, Shopware, hand-made CSV), in either
# language, each with its English and German wording. A status not listed stays as the shop wrote it.
_ORDER_STATUSES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("new", "neu"), "new", "neu"),
    (("open", "offen"), "open", "offen"),
    (("pending", "pending payment", "ausstehend", "zahlung ausstehend"), "pending", "ausstehend"),
    (("paid", "bezahlt"), "paid", "bezahlt"),
    (("processing", "in progress", "in bearbeitung"), "processing", "in Bearbeitung"),
    (("on hold", "zurückgestellt", "angehalten"), "on hold", "zurückgestellt"),
    (("backordered", "back order", "nachbestellt"), "backordered", "nachbestellt"),
    (("partially shipped", "partially fulfilled", "teilweise versandt"), "partially shipped", "teilweise versandt"),
    (("shipped", "dispatched", "fulfilled", "versandt", "versendet", "verschickt"), "shipped", "versandt"),
    (("in transit", "unterwegs"), "in transit", "unterwegs"),
    (("out for delivery", "in zustellung", "in der zustellung"), "out for delivery", "in der Zustellung"),
    (("delivered", "zugestellt", "geliefert"), "delivered", "zugestellt"),
    (("completed", "complete", "done", "abgeschlossen"), "completed", "abgeschlossen"),
    (("cancelled", "canceled", "storniert"), "cancelled", "storniert"),
    (("returned", "retoure", "zurückgesendet", "zurückgeschickt"), "returned", "zurückgesendet"),
    (("refunded", "erstattet", "zurückerstattet"), "refunded", "erstattet"),
    (("failed", "fehlgeschlagen"), "failed", "fehlgeschlagen"),
)
_ORDER_STATUS_WORDS = {spelling: (en, de) for spellings, en, de in _ORDER_STATUSES for spelling in spellings}


def format_order_status(status: str | None, language: str) -> str:
    """A shop's order status in ``language`` when it is a common one (``shipped``: ``versandt``), else as given."""
    if status is None or not status.strip():
        return "–"
    key = " ".join(status.strip().lower().removeprefix("wc-").replace("_", " ").replace("-", " ").split())
    words = _ORDER_STATUS_WORDS.get(key)
    if words is None:
        return status.strip()
    return words[1] if language == "de" else words[0]
