"""German and English: every UI text has a German version, language choice, dates and numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from socialcrm.models import DRAFT_STATUSES, ROLES, TICKET_STATUSES
from socialcrm.services import merge_review
from socialcrm.web import i18n
from socialcrm.web.locale_de import CATALOGUE
from socialcrm.web.middleware import _MESSAGES
from socialcrm.web.queries import customers as customer_queries
from socialcrm.web.queries.queue import AGE_CHOICES
from socialcrm.web.queries.tickets import PRIORITY_ORDER, SORTS
from socialcrm.web.views.common import NOTICES

WEB = Path(i18n.__file__).parent
_LITERAL = re.compile(r"""\bt\((["'])(.+?)\1""")


def _used_texts() -> set[str]:
    texts: set[str] = set()
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("views/*.py")]:
        texts.update(match.group(2) for match in _LITERAL.finditer(path.read_text(encoding="utf-8")))
    composed = {
        "sentiment:",
        "status:",
        "priority:",
        "draft:",
        "role:",
        "age:",
        "event:",
        "sort:",
        "per ",
        "by ",
        "Volume by ",
    }
    texts -= composed
    texts |= {f"status:{s}" for s in TICKET_STATUSES} | {f"priority:{p}" for p in PRIORITY_ORDER}
    texts |= {f"draft:{s}" for s in DRAFT_STATUSES} | {f"role:{r}" for r in ROLES} | {f"age:{a}" for a in AGE_CHOICES}
    texts |= {f"sentiment:{s}" for s in ("negative", "neutral", "positive", "none")}
    texts |= {f"sort:{s}" for s in SORTS}
    texts |= {
        f"event:{k}" for k in ("mention", "ticket_opened", "ticket_resolved", "draft", "reply_sent", "order", "note")
    }
    texts |= {f"{p}{d}" for p in ("by ", "Volume by ") for d in ("source", "group", "tag")} | {
        "per day",
        "per week",
    }
    texts |= {message for message, _kind in NOTICES.values()} | set(_MESSAGES.values())
    texts |= {"Wrong username or password.", "Too many attempts. Please wait a few minutes."}
    texts |= set(customer_queries.MESSAGES) | set(merge_review.REASON_MESSAGES)
    return texts


def test_every_ui_text_has_a_german_translation():
    missing = sorted(text for text in _used_texts() if text not in CATALOGUE)
    assert missing == []


def test_german_placeholders_match_the_english_ones():
    for english, german in CATALOGUE.items():
        assert set(re.findall(r"\{(\w+)\}", english)) == set(re.findall(r"\{(\w+)\}", german)), english


def test_language_negotiation_order():
    assert i18n.negotiate("en", "de-DE,de;q=0.9", "de") == "en"
    assert i18n.negotiate(None, "fr-FR,de;q=0.8,en;q=0.5", "en") == "de"
    assert i18n.negotiate(None, "en-GB;q=0.4,de;q=0.9", "en") == "de"
    assert i18n.negotiate(None, "fr", "de") == "de"
    assert i18n.negotiate(None, None, "en") == "en"


def test_dates_numbers_and_durations_are_localised():
    moment = datetime(2026, 3, 7, 14, 5, tzinfo=UTC)
    assert i18n.format_datetime(moment, "de") == "07.03.2026 14:05"
    assert i18n.format_datetime(moment, "en") == "7 Mar 2026 14:05"
    assert i18n.format_number(1234567.5, "de", 1) == "1.234.567,5"
    assert i18n.format_number(1234567.5, "en", 1) == "1,234,567.5"
    assert i18n.format_percent(0.125, "de") == "12,5 %"
    assert i18n.format_percent(0.125, "en") == "12.5%"
    assert i18n.format_duration(timedelta(hours=2, minutes=5), "de") == "2 h 05 min"
    assert i18n.format_duration(timedelta(days=3, hours=12), "de") == "3,5 d"


async def test_pages_follow_the_browser_then_the_users_choice(as_role, world):
    client, csrf = await as_role("community")
    german = await client.get("/queue", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert "Antwort-Warteschlange" in await german.text()
    english = await client.get("/queue", headers={"Accept-Language": "en-US"})
    assert "Reply queue" in await english.text()
    await client.post("/me/language", data={"language": "de", "csrf_token": csrf})
    chosen = await client.get("/queue", headers={"Accept-Language": "en-US"})
    body = await chosen.text()
    assert '<html lang="de">' in body and "Freigeben" in body
