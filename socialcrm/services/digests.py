"""The weekly digest: last week's figures against the week before, e-mailed to each user who opted in.

Weeks run Monday to Sunday in the reader's zone (their own choice on the account page, else
``[web] time_zone``, else the server's). In the first two days of a week the daemon queues, for every
enabled user with an e-mail address and the weekly digest switched on (the account page), one
e-mail in that user's language through the outbox; its key names the user and the week, so it is
queued once and leaves once (socialcrm/outbox.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from socialcrm.config import Config
from socialcrm.formatting import format_date, format_duration, format_number, format_percent
from socialcrm.insights import themes
from socialcrm.insights.kpis import CHURN_TAGS, Kpis, kpis, tag_condition
from socialcrm.models import Mention, User
from socialcrm.services import outbox
from socialcrm.timezones import default_zone

logger = logging.getLogger(__name__)
SEND_WITHIN = timedelta(days=2)  # a digest not queued by Tuesday night is skipped (the week is old news)
THEME_POSTS = 500


@dataclass(slots=True)
class WeekFigures:
    """One week's key figures, the week before's, and the top negative themes."""

    start: datetime
    end: datetime
    now: Kpis
    before: Kpis
    themes: list[themes.Theme] = field(default_factory=list)


def last_week(now: datetime, zone: tzinfo = UTC) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) in ``zone`` of the week before the one ``now`` is in there."""
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    end = today - timedelta(days=today.weekday())
    return end - timedelta(days=7), end


def _kpis(session: Session, start: datetime, end: datetime) -> Kpis:
    in_range = (col(Mention.published_at) >= start, col(Mention.published_at) < end)
    counts = {
        label or "unknown": [int(n)]
        for label, n in session.exec(
            select(Mention.sentiment, func.count()).where(*in_range).group_by(Mention.sentiment)
        )
    }
    churn = session.exec(select(func.count()).select_from(Mention).where(*in_range, tag_condition(CHURN_TAGS))).one()
    return kpis(session, start, end, counts, [], int(churn))


def week_figures(session: Session, config: Config, now: datetime, zone: tzinfo = UTC) -> WeekFigures:
    """The figures of last week and the week before (weeks in ``zone``)."""
    start, end = last_week(now, zone)
    brand = themes.configured_brand_terms(config.insights.brand_terms, (s.options for s in config.sources))
    in_range = (col(Mention.published_at) >= start, col(Mention.published_at) < end)
    posts = []
    for negative in (True, False):
        label = func.lower(func.coalesce(Mention.sentiment, ""))
        rows = session.exec(
            select(Mention.id, Mention.source, Mention.title, Mention.text)
            .where(*in_range, (label == "negative") if negative else (label != "negative"))
            .order_by(col(Mention.published_at).desc())
            .limit(THEME_POSTS if negative else THEME_POSTS // 2)
        )
        posts += [themes.Post(int(i or 0), s, themes.theme_text(t, x), negative) for i, s, t, x in rows]
    return WeekFigures(
        start=start,
        end=end,
        now=_kpis(session, start, end),
        before=_kpis(session, start - timedelta(days=7), start),
        themes=themes.negative_themes(posts, brand, top=5),
    )


_TEXTS = {
    "en": {
        "subject": "socialcrm weekly digest: {first} – {last}",
        "intro": "Last week ({first} – {last}, {zone}) against the week before:",
        "mentions": "Mentions",
        "complaints": "Complaints (negative)",
        "response_rate": "Response rate",
        "first_response": "Median time to first response",
        "resolution": "Median time to resolve a complaint",
        "churn": "Churn signals",
        "leads": "Leads won / new customers",
        "themes": "Top negative themes",
        "none": "none",
        "before": "week before",
        "look": "The dashboard: {url}",
        "why": "You get this because the weekly digest is switched on on your account page (/me).",
    },
    "de": {
        "subject": "socialcrm Wochenbericht: {first} – {last}",
        "intro": "Letzte Woche ({first} – {last}, {zone}) im Vergleich zur Vorwoche:",
        "mentions": "Erwähnungen",
        "complaints": "Beschwerden (negativ)",
        "response_rate": "Antwortquote",
        "first_response": "Median der Zeit bis zur ersten Antwort",
        "resolution": "Median der Zeit bis zur Lösung einer Beschwerde",
        "churn": "Abwanderungssignale",
        "leads": "Gewonnene Leads / Neukunden",
        "themes": "Häufigste negative Themen",
        "none": "keine",
        "before": "Vorwoche",
        "look": "Zum Dashboard: {url}",
        "why": "Sie erhalten diese E-Mail, weil der Wochenbericht auf Ihrer Kontoseite (/me) eingeschaltet ist.",
    },
}


def _change(now: int, before: int, language: str) -> str:
    difference = now - before
    sign = "+" if difference > 0 else "−" if difference < 0 else "±"
    relative = f", {sign}{format_percent(abs(difference) / before, language)}" if before else ""
    return f"{sign}{format_number(abs(difference), language)}{relative}"


def digest_email(config: Config, figures: WeekFigures, language: str, to: str) -> dict[str, Any]:
    """The digest e-mail (outbox payload) in ``language``: numbers, dates and durations written its way."""
    texts = _TEXTS[language if language in _TEXTS else "en"]
    zone = figures.start.tzinfo or UTC
    first, last = (
        format_date(figures.start, language, zone),
        format_date(figures.end - timedelta(days=1), language, zone),
    )
    now, before = figures.now, figures.before

    def line(label: str, value: str, previous: str) -> str:
        return f"- {texts[label]}: {value} ({texts['before']}: {previous})"

    lines = [
        texts["intro"].format(first=first, last=last, zone=getattr(zone, "key", None) or "UTC"),
        "",
        line(
            "mentions",
            f"{format_number(now.mentions, language)} [{_change(now.mentions, before.mentions, language)}]",
            format_number(before.mentions, language),
        ),
        line(
            "complaints",
            f"{format_number(now.complaints, language)} · {format_percent(now.negative_share, language)}",
            f"{format_number(before.complaints, language)} · {format_percent(before.negative_share, language)}",
        ),
        line(
            "response_rate",
            format_percent(now.response_rate, language),
            format_percent(before.response_rate, language),
        ),
        line(
            "first_response",
            format_duration(now.median_first_response, language),
            format_duration(before.median_first_response, language),
        ),
        line(
            "resolution",
            format_duration(now.median_resolution, language),
            format_duration(before.median_resolution, language),
        ),
        line("churn", format_number(now.churn_signals, language), format_number(before.churn_signals, language)),
        line(
            "leads",
            f"{format_number(now.leads_won, language)} / {format_number(now.new_customers, language)}",
            f"{format_number(before.leads_won, language)} / {format_number(before.new_customers, language)}",
        ),
        "",
        f"{texts['themes']}: "
        + (
            ", ".join(f"„{t.phrase}“ ({format_number(t.mentions, language)})" for t in figures.themes)
            if figures.themes
            else texts["none"]
        ),
    ]
    if config.web.public_url:
        lines += ["", texts["look"].format(url=config.web.public_url.rstrip("/") + "/dashboard?range=7")]
    lines += ["", "-- ", texts["why"]]
    subject = texts["subject"].format(first=first, last=last)
    return {"to": [to], "subject": subject, "text": "\n".join(lines), "language": language}


def digest_key(user_id: int, week_start: datetime) -> str:
    """The outbox key of one user's digest of one week."""
    return f"digest:{user_id}:{week_start.date().isoformat()}"


def check(session: Session, config: Config, now: datetime) -> list[int]:
    """Queue last week's digest for every user who opted in and has none queued yet (outbox row ids)."""
    if config.smtp is None:
        return []
    readers = session.exec(
        select(User).where(
            col(User.weekly_digest).is_(True), col(User.disabled).is_(False), col(User.email).is_not(None)
        )
    ).all()
    by_zone: dict[str, WeekFigures] = {}  # readers in one zone share their week's figures
    queued: list[int] = []
    for user in readers:
        assert user.id is not None and user.email is not None
        zone = default_zone(user.time_zone or config.web.time_zone)
        start, end = last_week(now, zone)
        if now - end >= SEND_WITHIN:
            continue
        key = digest_key(user.id, start)
        if outbox.find(session, key) is not None:
            continue
        zone_name = getattr(zone, "key", None) or "UTC"
        figures = by_zone.get(zone_name) or by_zone.setdefault(zone_name, week_figures(session, config, now, zone))
        language = user.language or config.web.default_language
        try:
            with session.begin_nested():
                item = outbox.enqueue(
                    session, "email", key, digest_email(config, figures, language, user.email), now=now
                )
        except IntegrityError:
            continue  # another daemon queued it a moment ago
        assert item.id is not None
        queued.append(item.id)
        logger.info("Weekly digest for %s queued (%s)", user.username, key)
    return queued
