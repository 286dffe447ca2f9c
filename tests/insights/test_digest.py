"""The weekly digest: opted in on the account page, queued once per user and week, in the user's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from sqlmodel import select

from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.models import OutboxItem
from socialcrm.outbox import OutboxWorker
from socialcrm.services import digests, users
from tests.smtp_server import SmtpServer
from tests.web.seed import add_mention

MONDAY = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # the digest of 23-29 Nov goes out on Monday 30 Nov


def _seed(db: Database) -> None:
    week = MONDAY.replace(hour=0) - timedelta(days=7)
    with db.write() as s:
        for i in range(3):
            add_mention(s, "Lieferung kaputt angekommen", sentiment="negative", published_at=week + timedelta(hours=i))
        for i in range(1200):
            add_mention(s, f"Alles gut {i}", sentiment="positive", published_at=week + timedelta(minutes=i))
        add_mention(s, "Vorwoche", sentiment="neutral", published_at=week - timedelta(days=2))
        make_users_with_digest(s)


def make_users_with_digest(s) -> None:  # type: ignore[no-untyped-def]
    for name, language, email, wanted, disabled in (
        ("anna", "de", "anna@example.com", True, False),
        ("ben", "en", "ben@example.com", True, False),
        ("carl", "en", "carl@example.com", False, False),
        ("dora", "de", "dora@example.com", True, True),
    ):
        user = users.create_user(s, name, "marketing", "a-long-enough-password", actor="test")
        user.language, user.email, user.weekly_digest, user.disabled = language, email, wanted, disabled
        s.add(user)


def _config(smtp: SmtpServer):  # type: ignore[no-untyped-def]
    return parse_config(smtp.config() + '[web]\ndefault_language = "en"\n')


def test_digests_are_queued_once_per_user_and_week_in_their_language(db: Database) -> None:
    _seed(db)
    with SmtpServer() as smtp:
        config = _config(smtp)
    with db.write() as s:
        first = digests.check(s, config, MONDAY)
    with db.write() as s:
        again = digests.check(s, config, MONDAY + timedelta(hours=3))
    with db.write() as s:
        late = digests.check(s, config, MONDAY + timedelta(days=2))  # Wednesday: the next week's is not due
    assert len(first) == 2 and again == [] and late == []
    with db.read() as s:
        rows = {row.payload["to"][0]: row.payload for row in s.exec(select(OutboxItem))}
    assert set(rows) == {"anna@example.com", "ben@example.com"}
    german, english = rows["anna@example.com"], rows["ben@example.com"]
    assert german["subject"] == "socialcrm Wochenbericht: 23.11.2026 – 29.11.2026"
    assert "- Erwähnungen: 1.203 [+1.202, +120.200,0 %] (Vorwoche: 1)" in german["text"]
    assert "Beschwerden (negativ): 3 · 0,2 %" in german["text"] and "„Lieferung kaputt“ (3)" in german["text"]
    assert english["subject"] == "socialcrm weekly digest: 23 Nov 2026 – 29 Nov 2026"
    assert "- Mentions: 1,203 [+1,202, +120,200.0%] (week before: 1)" in english["text"]


def test_a_reader_in_berlin_gets_berlin_weeks(db: Database) -> None:
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # Monday 00:30 in Berlin: this week, not last
    a_week_before = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # Monday 23 Nov 00:30 in Berlin: last week
    with db.write() as s:
        add_mention(s, "Sonntagnacht", sentiment="negative", published_at=sunday_night)
        add_mention(s, "Montagfrüh", sentiment="negative", published_at=a_week_before)
        make_users_with_digest(s)
        users.get_user(s, "anna").time_zone = "Europe/Berlin"
    with SmtpServer() as smtp:
        config = _config(smtp)
    with db.write() as s:
        assert len(digests.check(s, config, MONDAY)) == 2
    with db.read() as s:
        rows = {row.payload["to"][0]: row for row in s.exec(select(OutboxItem))}
    german, english = rows["anna@example.com"], rows["ben@example.com"]
    assert "(23.11.2026 – 29.11.2026, Europe/Berlin)" in german.payload["text"]
    assert "(23 Nov 2026 – 29 Nov 2026, UTC)" in english.payload["text"]
    # Berlin's week: 23 Nov 00:30 in it, Sunday night (30 Nov 00:30 there) not; the UTC week the other way round.
    assert "- Erwähnungen: 1 [+1] (Vorwoche: 0)" in german.payload["text"]
    assert "- Mentions: 1 [±0, ±0.0%] (week before: 1)" in english.payload["text"]
    assert german.idempotency_key.endswith(":2026-11-23") and english.idempotency_key.endswith(":2026-11-23")


async def test_the_digest_arrives_at_a_real_smtp_server_once(db: Database) -> None:
    _seed(db)
    with SmtpServer() as smtp:
        config = _config(smtp)
        with db.write() as s:
            digests.check(s, config, MONDAY)  # queued due then: the worker sends it at once
        async with aiohttp.ClientSession() as http:
            worker = OutboxWorker(config, db, {}, http)
            await worker.run_once()
            await worker.run_once()
        received = {str(m["To"]): m for m in smtp.inbox.messages}
    assert set(received) == {"anna@example.com", "ben@example.com"} and len(smtp.inbox.messages) == 2
    assert received["anna@example.com"]["Content-Language"] == "de"
    assert "Wochenbericht" in received["anna@example.com"]["Subject"]
