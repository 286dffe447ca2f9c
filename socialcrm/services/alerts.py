"""Checking for spikes and queueing the alerts: an e-mail and/or webhooks, through the outbox, once per window.

The detector is socialcrm/insights/alerts.py. Each alert goes out through ``outbox.enqueue`` with an
idempotency key naming the kind, the scope, the window and the channel, so however many daemons
check, however often, and whatever crashes, each alert is queued once; the outbox delivers it
once (e-mails with the same claim and fence as replies and webhooks).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from socialcrm.config import Config
from socialcrm.formatting import format_datetime, format_number
from socialcrm.insights.alerts import ALL, Counts, Spike, Window, current_window, detect
from socialcrm.models import Mention
from socialcrm.services import outbox
from socialcrm.timezones import default_zone

logger = logging.getLogger(__name__)


def _epoch_seconds(session: Session, column: Any) -> Any:
    """SQL for a timestamp as seconds since the Unix epoch (dialect-specific).

    SQLite's julianday is a double good to about 40 microseconds: rounded to the millisecond, a
    mention published exactly at a window's start falls in that window, not (at some hours) the one
    before.
    """
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", column)
    return func.round((func.julianday(column) - 2440587.5) * 86400.0, 3)


def scope_counts(session: Session, window: Window) -> dict[str, Counts]:
    """Mentions (and negative ones) per scope: in the window so far, and per baseline window."""
    start_epoch = window.baseline_start.timestamp()
    slot = func.floor((_epoch_seconds(session, Mention.published_at) - start_epoch) / window.length.total_seconds())
    negative = func.lower(func.coalesce(Mention.sentiment, "")) == "negative"
    rows = session.exec(
        select(Mention.source, slot, negative, func.count())
        .where(col(Mention.published_at) >= window.baseline_start, col(Mention.published_at) < window.end)
        .group_by(Mention.source, slot, negative)
    )
    width = window.baseline_windows
    totals: dict[str, list[int]] = defaultdict(lambda: [0] * (width + 1))
    negatives: dict[str, list[int]] = defaultdict(lambda: [0] * (width + 1))
    for source, raw_slot, is_negative, n in rows:
        index = min(max(int(raw_slot), 0), width)  # the last slot is the window in progress
        for scope in (ALL, source):
            totals[scope][index] += n
            if is_negative:
                negatives[scope][index] += n
    return {
        scope: Counts(counts[width], negatives[scope][width], counts[:width], negatives[scope][:width])
        for scope, counts in totals.items()
    }


def check(session: Session, config: Config, now: datetime) -> list[int]:
    """Look for spikes in the window in progress and the one just closed; queue their alerts (outbox row ids).

    The closed window is checked again for the whole of the next one: posts published near its end
    are often fetched after it (a source polled every few minutes), and a daemon that was down or
    restarting at the turn of the window has not seen them yet. The outbox key names the window, so
    a spike already alerted while its window was in progress is not alerted again.
    """
    alerts = config.alerts
    if not alerts.enabled:
        return []
    window = current_window(now, alerts)
    closed = current_window(window.start - window.length, alerts)
    queued: list[int] = []
    for checked in (closed, window):
        for scope, counts in sorted(scope_counts(session, checked).items()):
            for spike in detect(scope, counts, alerts):
                queued += _queue(session, config, spike, checked, now)
    return queued


def alert_key(spike: Spike, window: Window, channel: str) -> str:
    """The outbox idempotency key of one alert on one channel: kind, scope, window, channel."""
    return f"alert:{spike.kind}:{spike.scope}:{window.start.isoformat()}:{channel}"


def _queue(session: Session, config: Config, spike: Spike, window: Window, now: datetime) -> list[int]:
    channels: list[tuple[str, str | None]] = []  # (channel, webhook name)
    if config.alerts.email_to and config.smtp is not None:
        channels.append(("email", None))
    channels += [(f"webhook:{hook}", hook) for hook in config.alerts.webhooks]
    queued = []
    for channel, hook in channels:
        key = alert_key(spike, window, channel)
        if outbox.find(session, key) is not None:
            continue
        try:
            with session.begin_nested():
                if hook is None:
                    item = outbox.enqueue(session, "email", key, alert_email(config, spike, window), now=now)
                else:
                    item = outbox.enqueue_webhook(session, hook, "alert", key, alert_body(spike, window, now), now=now)
        except IntegrityError:
            continue  # another daemon queued it a moment ago
        logger.warning("Alert: %s spike in %s (%s); queued %s", spike.kind, _scope_name(spike.scope), key, channel)
        assert item.id is not None
        queued.append(item.id)
    return queued


def _scope_name(scope: str) -> str:
    return "all sources" if scope == ALL else f"source {scope}"


def alert_body(spike: Spike, window: Window, now: datetime) -> dict[str, Any]:
    """The webhook body of an alert."""
    return {
        "event": "alert",
        "kind": spike.kind,
        "source": None if spike.scope == ALL else spike.scope,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "mentions": spike.mentions,
        "negative": spike.negative,
        "observed": spike.observed,
        "expected": spike.expected,
        "threshold": spike.threshold,
        "at": now.isoformat(),
    }


_TEXTS = {
    "en": {
        "volume": "Mention spike in {scope}: {observed} mentions since {start} (usually {expected} per {length})",
        "negative_share": "Negative spike in {scope}: {observed} negative since {start} (usually {expected})",
        "all": "all sources",
        "source": "source {name}",
        "detail": "{mentions} mentions, {negative} of them negative, from {start} to {end} ({zone}).",
        "look": "See them on the dashboard: {url}",
        "why": "Sent because [alerts] in the socialcrm configuration names this address.",
    },
    "de": {
        "volume": "Erwähnungsspitze bei {scope}: {observed} Erwähnungen seit {start} (sonst {expected} je {length})",
        "negative_share": "Negative Spitze bei {scope}: {observed} negativ seit {start} (sonst {expected})",
        "all": "allen Quellen",
        "source": "Quelle {name}",
        "detail": "{mentions} Erwähnungen, davon {negative} negativ, von {start} bis {end} ({zone}).",
        "look": "Zum Dashboard: {url}",
        "why": "Gesendet, weil [alerts] in der socialcrm-Konfiguration diese Adresse nennt.",
    },
}


def alert_email(config: Config, spike: Spike, window: Window) -> dict[str, Any]:
    """The e-mail of an alert in the configured language and ``[web] time_zone`` (else the server's zone)."""
    language = config.alerts.language
    zone = default_zone(config.web.time_zone)
    zone_name = getattr(zone, "key", None) or "UTC"
    texts = _TEXTS[language]
    scope = texts["all"] if spike.scope == ALL else texts["source"].format(name=spike.scope)
    hours = window.length.total_seconds() / 3600
    length = f"{format_number(hours, language, 0 if hours.is_integer() else 1)} h"
    if spike.kind == "volume":
        observed, expected = format_number(spike.observed, language), format_number(spike.expected, language, 1)
    else:
        observed, expected = _percent(spike.observed, language), _percent(spike.expected, language)
    subject = texts[spike.kind].format(
        scope=scope,
        observed=observed,
        expected=expected,
        start=format_datetime(window.start, language, zone),
        length=length,
    )
    lines = [
        subject + ".",
        "",
        texts["detail"].format(
            mentions=format_number(spike.mentions, language),
            negative=format_number(spike.negative, language),
            start=format_datetime(window.start, language, zone),
            end=format_datetime(window.end, language, zone),
            zone=zone_name,
        ),
    ]
    if config.web.public_url:
        lines += ["", texts["look"].format(url=config.web.public_url.rstrip("/") + "/dashboard?range=7")]
    lines += ["", "-- ", texts["why"]]
    return {"to": list(config.alerts.email_to), "subject": subject, "text": "\n".join(lines), "language": language}


def _percent(share: float, language: str) -> str:
    number = format_number(share * 100, language, 1)
    return f"{number} %" if language == "de" else f"{number}%"
