"""Alerts in one process: a spike is found, queued once per window, and its e-mail reaches a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
from sqlmodel import select

from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.models import OutboxItem
from socialcrm.outbox import OutboxWorker
from socialcrm.outbox_email import FINAL_DOT
from socialcrm.services import alerts
from socialcrm.services import outbox as queue
from tests.smtp_server import SmtpServer
from tests.web.seed import add_mention

NOW = datetime.now(UTC) - timedelta(seconds=1)  # due rows are claimed by the real clock
WINDOW = NOW.replace(minute=0, second=0, microsecond=0)


def _config(smtp: SmtpServer, extra: str = "", language: str = "en"):  # type: ignore[no-untyped-def]
    return parse_config(
        smtp.config()
        + f'[alerts]\nemail_to = ["marketing@example.com"]\nwebhooks = ["ops"]\nlanguage = "{language}"\n'
        + 'window = "1h"\nbaseline = "1d"\nmin_mentions = 20\n'
        + '[[webhooks]]\nname = "ops"\nurl = "http://127.0.0.1:9/hook"\nevents = ["alert"]\n'
        + '[daemon]\noutbox_lease = "10s"\n'
        + extra
    )


def _in_window(i: int) -> datetime:
    """A moment of the window in progress, before NOW."""
    return WINDOW + (NOW - WINDOW) * (i % 100) / 100


def _spike(db: Database, source: str = "blog", n: int = 25, sentiment: str = "neutral") -> None:
    with db.write() as s:
        for i in range(n):
            add_mention(s, f"Post {i}", source=source, sentiment=sentiment, published_at=_in_window(i))


def test_a_spike_is_queued_once_per_window_on_each_channel(db: Database) -> None:
    with SmtpServer() as smtp:
        config = _config(smtp)
    with db.write() as s:  # a quiet source: 2 mentions are no spike
        for i in range(2):
            add_mention(s, f"Quiet {i}", source="forum", published_at=_in_window(i))
    with db.write() as s:
        assert alerts.check(s, config, NOW) == []
    _spike(db)
    with db.write() as s:
        first = alerts.check(s, config, NOW)
    with db.write() as s:
        again = alerts.check(s, config, NOW + timedelta(minutes=10))
    assert len(first) == 4 and again == []  # volume in "blog" and in all sources, by e-mail and webhook
    with db.read() as s:
        rows = s.exec(select(OutboxItem).order_by(OutboxItem.id)).all()
    keys = {row.idempotency_key for row in rows}
    window = WINDOW.isoformat()
    assert f"alert:volume:blog:{window}:email" in keys and f"alert:volume:*:{window}:webhook:ops" in keys
    email = next(r for r in rows if r.kind == "email" and ":blog:" in r.idempotency_key)
    assert email.payload["to"] == ["marketing@example.com"]
    assert email.payload["subject"].startswith("Mention spike in source blog: 25 mentions since")
    hook = next(r for r in rows if r.kind == "webhook" and ":blog:" in r.idempotency_key)
    assert hook.payload["body"]["event"] == "alert" and hook.payload["body"]["mentions"] == 25


def test_a_spike_first_seen_after_its_window_closed_is_alerted_during_the_next_window(db: Database) -> None:
    """Posts published near a window's end arrive after it (or the daemon was down at the turn of the hour)."""
    with SmtpServer() as smtp:
        config = _config(smtp)
    _spike(db)
    turn = WINDOW + timedelta(hours=1)
    with db.write() as s:  # two windows later the spike is history: no alert
        assert alerts.check(s, config, turn + timedelta(hours=1, minutes=1)) == []
    with db.write() as s:
        late = alerts.check(s, config, turn + timedelta(seconds=2))
    with db.write() as s:
        again = alerts.check(s, config, turn + timedelta(minutes=30))
    assert len(late) == 4 and again == []
    with db.read() as s:
        keys = {row.idempotency_key for row in s.exec(select(OutboxItem))}
    assert f"alert:volume:blog:{WINDOW.isoformat()}:email" in keys  # named by the window it happened in


def test_a_spike_alerted_in_its_window_is_not_alerted_again_after_the_turn(db: Database) -> None:
    with SmtpServer() as smtp:
        config = _config(smtp)
    _spike(db)
    with db.write() as s:
        first = alerts.check(s, config, NOW)
    with db.write() as s:
        after = alerts.check(s, config, WINDOW + timedelta(hours=1, minutes=5))
    assert len(first) == 4 and after == []


def test_german_alert_writes_numbers_and_dates_the_german_way(db: Database) -> None:
    with SmtpServer() as smtp:
        config = _config(smtp, language="de")
    _spike(db, n=1200)
    with db.write() as s:
        alerts.check(s, config, NOW)
    with db.read() as s:
        rows = s.exec(select(OutboxItem).where(OutboxItem.kind == "email")).all()
    row = next(r for r in rows if ":blog:" in r.idempotency_key)
    assert row.payload["subject"].startswith("Erwähnungsspitze bei Quelle blog: 1.200 Erwähnungen seit ")
    assert f"{WINDOW:%d.%m.%Y %H:%M}" in row.payload["subject"]


def test_alert_times_are_in_the_configured_zone(db: Database) -> None:
    with SmtpServer() as smtp:
        config = _config(smtp, extra='[web]\ntime_zone = "Europe/Berlin"\n', language="de")
    _spike(db, n=30)
    with db.write() as s:
        alerts.check(s, config, NOW)
    with db.read() as s:
        row = next(
            r for r in s.exec(select(OutboxItem).where(OutboxItem.kind == "email")) if ":blog:" in r.idempotency_key
        )
    berlin = WINDOW.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"seit {berlin:%d.%m.%Y %H:%M}" in row.payload["subject"]
    assert f"von {berlin:%d.%m.%Y %H:%M} bis " in row.payload["text"] and "(Europe/Berlin)." in row.payload["text"]
    if berlin.utcoffset():
        assert f"seit {WINDOW:%d.%m.%Y %H:%M}" not in row.payload["subject"]


async def test_the_alert_email_arrives_once_at_a_real_smtp_server(db: Database) -> None:
    with SmtpServer() as smtp:
        config = _config(smtp)
        _spike(db)
        with db.write() as s:
            alerts.check(s, config, NOW)
        async with aiohttp.ClientSession() as http:
            worker = OutboxWorker(config, db, {}, http)
            await worker.run_once()
            await worker.run_once()
        ids = smtp.inbox.ids()
        assert len(ids) == 2 and len(set(ids)) == 2  # blog and all sources, once each
        message = smtp.inbox.messages[0]
        assert message["To"] == "marketing@example.com" and message["From"] == "socialcrm@example.com"
        assert "Mention spike" in message["Subject"] and "25 mentions" in message.get_content()
    with db.read() as s:
        emails = s.exec(select(OutboxItem).where(OutboxItem.kind == "email")).all()
    assert {row.status for row in emails} == {"done"}
    assert {row.result["message_id"] for row in emails} == set(ids)


async def test_an_email_marked_past_its_final_dot_is_not_sent_again(db: Database) -> None:
    with SmtpServer() as smtp:
        config = _config(smtp)
        _spike(db)
        with db.write() as s:
            alerts.check(s, config, NOW)
        with db.write() as s:  # a worker that died right after ending the message
            claim = queue.claim_next(s, "dead-worker", now=NOW, lease=timedelta(seconds=1))
            while claim is not None and claim.kind != "email":
                claim = queue.claim_next(s, "dead-worker", now=NOW, lease=timedelta(seconds=1), skip=[claim.item_id])
            assert claim is not None
            queue.mark_point_of_no_return(s, claim, {"smtp": FINAL_DOT}, now=NOW, lease=timedelta(seconds=1))
        async with aiohttp.ClientSession() as http:
            worker = OutboxWorker(config, db, {}, http)
            await worker.run_once()
        with db.read() as s:
            row = s.get(OutboxItem, claim.item_id)
        assert row is not None and row.status == "done" and row.result["outcome_unknown"] is True
        assert len(smtp.inbox.ids()) == 1  # only the other alert's e-mail


async def test_a_refused_email_fails_for_good_and_says_why(db: Database) -> None:
    with SmtpServer() as smtp:
        smtp.inbox.refuse = 554
        config = _config(smtp)
        _spike(db)
        with db.write() as s:
            alerts.check(s, config, NOW)
        async with aiohttp.ClientSession() as http:
            await OutboxWorker(config, db, {}, http).run_once()
    with db.read() as s:
        emails = s.exec(select(OutboxItem).where(OutboxItem.kind == "email")).all()
    assert {row.status for row in emails} == {"failed"}
    assert all("554" in (row.last_error or "") for row in emails)
