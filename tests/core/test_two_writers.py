"""Two processes polling the same sources into one database at once (issue 11, item 7).

The first release let both create the same prospect: the second hit the unique key, and its complaint
stayed stored without its ticket, never retried. Here two real ``socialcrm poll`` processes store two
feeds whose posts come from the same 60 new authors, at the same moment, on SQLite and PostgreSQL.
Nothing may fail, be doubled or be left without its links and actions.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlmodel import func, select

from socialcrm.config import SourceConfig
from socialcrm.db import Database
from socialcrm.models import Customer, Decision, Identity, Mention, MentionRetry, SourceState, Ticket, TicketMention
from socialcrm.services import sources
from tests.core.test_cli import run
from tests.core.test_pipeline import RULES
from tests.replay_server import Canned, ReplayServer

AUTHORS = 60
TEXTS = (
    "Meine Lieferung ist seit Tagen überfällig, sehr ärgerlich. Bestellung {n}.",
    "Wie kann ich die Maschine entkalken? Danke.",
    "The delivery never arrived and support does not answer. Terrible.",
    "Great coffee, lovely crema.",
)


def feed(name: str) -> bytes:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = "".join(
        f"<item><title>{name} {i}</title><link>https://{name}.example/p/{i}</link>"
        f'<guid isPermaLink="false">{name}-{i}</guid>'
        f"<pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate>"
        f"<dc:creator>author{i}</dc:creator><description>{TEXTS[i % len(TEXTS)].format(n=i)}</description></item>"
        for i in range(AUTHORS)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>{name}</title><link>https://{name}.example/</link>{items}</channel></rss>"
    ).encode()


async def test_two_processes_meeting_the_same_new_authors_lose_and_double_nothing(
    tmp_path: Path, database_url: str, replay: ReplayServer
) -> None:
    for name in ("feed-a", "feed-b"):
        replay.add("GET", f"/{name}.xml", Canned(body=feed(name), headers={"Content-Type": "application/rss+xml"}))
    sources = "".join(
        f'[[sources]]\nname = "{name}"\ntype = "feed"\nurl = "{replay.base_url}/{name}.xml"\ninterval = "15m"\n'
        for name in ("feed-a", "feed-b")
    )
    (tmp_path / "socialcrm.toml").write_text(
        f'[database]\nurl = "{database_url}"\n[web]\nenabled = false\n[classifier]\nkind = "lexicon"\n{sources}{RULES}'
    )
    first, second = await asyncio.gather(run(tmp_path, "poll"), run(tmp_path, "poll"))
    assert first[0] == 0, first
    assert second[0] == 0, second

    db = Database(database_url)
    try:
        with db.read() as session:
            mentions = session.exec(select(Mention)).all()
            assert len(mentions) == 2 * AUTHORS  # each post stored once, by one of the two
            prospects = session.exec(select(func.count()).select_from(Customer).where(Customer.is_prospect)).one()
            assert prospects == AUTHORS and session.exec(select(func.count()).select_from(Identity)).one() == AUTHORS
            assert all(m.customer_id is not None and m.link_method == "prospect" for m in mentions)
            decided = set(session.exec(select(Decision.mention_id).distinct()))
            assert decided == {m.id for m in mentions}  # the rules ran for every mention
            on_tickets = set(session.exec(select(TicketMention.mention_id)))
            complaints = set(
                session.exec(select(Decision.mention_id).where(Decision.rule == "complaint-ticket", Decision.fired))
            )
            assert len(complaints) >= AUTHORS // 2 and complaints <= on_tickets  # no complaint without its ticket
            assert session.exec(select(func.count()).select_from(Ticket)).one() == len(on_tickets)
            assert session.exec(select(func.count()).select_from(MentionRetry)).one() == 0
    finally:
        db.dispose()


def test_two_writers_meeting_a_new_source_share_its_one_state_row(db: Database) -> None:
    """Both find no state row; the second's insert waits for the first's and skips it (no unique-key error)."""
    source = SourceConfig(name="feed-new", type="feed")
    seen: list[str] = []
    elsewhere = Database(db.url)  # another process's writer: one Database writes one at a time

    def second() -> None:
        with elsewhere.write() as session:
            seen.append(sources.source_state(session, source).name)

    with db.write() as session:
        assert sources.source_state(session, source).name == "feed-new"
        other = threading.Thread(target=second)
        other.start()
        other.join(0.5)  # on PostgreSQL it now waits in its insert for this transaction's row
    other.join(30)
    elsewhere.dispose()
    assert seen == ["feed-new"]
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(SourceState)).one() == 1
