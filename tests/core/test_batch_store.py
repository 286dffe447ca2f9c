"""The batched pipeline: a batch stored in bulk does exactly what storing its mentions one by one does.

Every test runs on SQLite and PostgreSQL. The one-by-one path is the pipeline's own fallback (it is
forced by making the batch path fail, a seam of our own), so the comparison is between the two code
paths the daemon really runs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from connectors.base import Batch, RawPost
from socialcrm.classifying import Classification
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import (
    ActionKey,
    AuditEntry,
    Customer,
    Decision,
    Identity,
    LinkSuggestion,
    Mention,
    OutboxItem,
    ReplyDraft,
    SourceState,
    Ticket,
    TicketMention,
    utcnow,
)
from socialcrm.pipeline import NewPost, Page, Pipeline
from socialcrm.rules.loader import compile_rules
from socialcrm.services import ingest, retries, sources, tickets
from tests.core.fakes import FakeClassifier
from tests.rules import factories as f

INSERT_INTO = re.compile(r'INSERT INTO "?(\w+)')

RULES = """
[[webhooks]]
name = "service-desk"
url = "http://127.0.0.1:9/hook"

[[rules]]
name = "complaint-ticket"
order = 10
[rules.when]
sentiment = ["negative"]
query = 'lieferung OR delivery OR "kam nie"'
[[rules.then]]
action = "open_ticket"
team = "service"
priority = "high"

[[rules]]
name = "negative-linked"
order = 20
[rules.when]
sentiment = ["negative"]
customer = "linked"
[[rules.then]]
action = "open_ticket"
priority = "normal"
[[rules.then]]
action = "notify"
webhook = "service-desk"
message = "A known customer complains"

[[rules]]
name = "vip-escalation"
order = 30
[rules.when]
customer_tag = "vip"
has_open_ticket = true
[[rules.then]]
action = "set_priority"
priority = "urgent"
[[rules.then]]
action = "tag"
target = "customer"
tags = ["escalated"]

[[rules]]
name = "question-reply"
order = 40
[rules.when]
query = 'wie OR how'
[[rules.then]]
action = "draft_reply"
template = "question"

[[rules]]
name = "churn"
order = 50
[rules.when]
query = 'kündig*'
[[rules.then]]
action = "tag"
tags = ["churn"]

[[rules]]
name = "delivery-spike"
order = 60
[rules.when]
volume = { count = 3, window = "1h", query = "lieferung" }
[[rules.then]]
action = "tag"
tags = ["spike"]

[templates.question]
de = "Hallo {{ customer_name }}, danke! Ticket {{ ticket_id }}, Bestellungen {{ order_numbers | join(', ') }}"
en = "Hi {{ customer_name }}, thanks! Ticket {{ ticket_id }}, orders {{ order_numbers | join(', ') }}"
"""
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def raw(
    n: int,
    text: str,
    *,
    author: str | None,
    thread: str | None = None,
    name: str | None = None,
) -> RawPost:
    return RawPost(
        source="shop",
        external_id=f"shop-{n}",
        url=f"https://shop.example/t/{n}",
        author_handle=author,
        author_name=name,
        title=None,
        body=text,
        published_at=START + timedelta(minutes=n),
        thread_id=thread,
        raw={"n": n},
    )


POSTS = [
    raw(1, "Meine Lieferung ist seit Tagen überfällig, sehr ärgerlich!", author="anna_s", thread="t1"),
    raw(2, "Schreibt an anna@example.de, wie geht das mit dem Entkalken?", author="neu1"),
    raw(3, "Immer noch keine Lieferung, ärgerlich.", author="anna_s", thread="t1"),
    raw(4, "Hallo zusammen, ich bin neu hier", author="bbeker", name="Ben Beker"),
    raw(5, "Bestellung A-12345 kam nie an, delivery failed, ärgerlich", author="neu2", thread="t5"),
    raw(6, "Wie kündige ich meinen Vertrag?", author="neu2", thread="t5"),
    raw(7, "Die Lieferung ist schon wieder kaputt, ärgerlich", author="anna_s", thread="t-old"),
    raw(8, "Lieferung heute pünktlich, super", author="gast1"),
    raw(9, "Noch eine Lieferung, alles toll", author="gast2"),
    raw(10, "The delivery never arrived, terrible", author=None, thread="t10"),
    raw(11, "How do I descale the machine?", author="Anna Schmidt-Fan", name="Anna Schmid"),
]


def seed(session: Session) -> None:
    anna = f.customer(
        session,
        "K-1001",
        "Anna Schmidt",
        email="anna@example.de",
        phone="+49 170 1234567",
        company="Schmidt GmbH",
        handles={"feed": "anna_s"},
        tags=["vip"],
    )
    ben = f.customer(session, "K-1002", "Ben Becker", email="ben@example.com")
    f.order(session, "A-12345", ben.id, ["Kettle"])
    f.order(session, "A-20001", anna.id, ["Grinder"])
    tickets.open_ticket(
        session, subject="Older complaint", customer_id=anna.id, thread_key="shop:t-old", now=START - timedelta(days=1)
    )


@pytest.fixture
def config() -> Config:
    return parse_config(RULES)


@pytest.fixture
def other_db(database_url: str, tmp_path: Any, _pg_template: Any) -> Iterator[Database]:
    """A second empty database of the same kind as ``db``."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'other.db'}"
        database = Database(url)
        database.upgrade()
        yield database
        database.dispose()
        return
    name = _pg_template.clone()
    database = Database(make_url(_pg_template.admin_url).set(database=name).render_as_string(hide_password=False))
    yield database
    database.dispose()
    _pg_template.drop(name)


def make_pipeline(config: Config, db: Database, classifier: Any = None) -> Pipeline:
    ruleset = compile_rules(list(config.rules), config.templates, webhooks={w.name for w in config.webhooks})
    return Pipeline(config, db, classifier or FakeClassifier(), ruleset)


def snapshot(db: Database) -> dict[str, Any]:
    """Everything the pipeline wrote, in terms that do not depend on row ids."""
    with db.read() as s:
        mentions = {m.id: m for m in s.exec(select(Mention))}
        customers = {c.id: c for c in s.exec(select(Customer))}
        all_tickets = {t.id: t for t in s.exec(select(Ticket))}
        drafts = {d.id: d for d in s.exec(select(ReplyDraft))}
        ext = {i: m.external_id for i, m in mentions.items()}
        ref = {i: c.customer_ref for i, c in customers.items()}
        on_ticket: dict[int | None, list[str]] = {}
        for link in s.exec(select(TicketMention)):
            on_ticket.setdefault(link.ticket_id, []).append(ext[link.mention_id])

        def ticket_name(ticket_id: Any) -> Any:
            ticket = all_tickets.get(int(ticket_id)) if ticket_id is not None else None
            return None if ticket is None else (ticket.thread_key, ticket.subject)

        def key_name(key: str) -> str:
            """The action key with its customer id as the customer's ref (prospects are numbered in another order)."""
            rule, action, thread, customer, *rest = key.split("|")
            named = ref.get(int(customer), customer) if customer.isdigit() else customer
            return "|".join([rule, action, thread, str(named), *rest])

        def outcome(action: dict[str, Any]) -> dict[str, Any]:
            shown = dict(action)
            if "ticket_id" in shown:
                shown["ticket_id"] = ticket_name(shown["ticket_id"])
            if shown.get("draft_id") is not None:
                shown["draft_id"] = ext[drafts[shown["draft_id"]].mention_id]
            shown.pop("outbox_id", None)
            return shown

        return {
            "mentions": {
                m.external_id: (ref.get(m.customer_id), m.link_method, m.link_confidence, sorted(m.tags))
                for m in mentions.values()
            },
            "customers": sorted((c.customer_ref, c.is_prospect, sorted(c.tags), c.name) for c in customers.values()),
            "decisions": sorted(
                (ext[d.mention_id], d.position, d.rule, d.fired, repr([outcome(a) for a in d.actions]))
                for d in s.exec(select(Decision))
            ),
            "tickets": sorted(
                (
                    t.thread_key,
                    ref.get(t.customer_id),
                    t.subject,
                    t.status,
                    t.priority,
                    t.team,
                    t.idempotency_key,
                    sorted(on_ticket.get(t.id, [])),
                )
                for t in all_tickets.values()
            ),
            "drafts": sorted((ext[d.mention_id], d.text, d.rule, d.language) for d in drafts.values()),
            "suggestions": sorted(
                (
                    ext[x.mention_id],
                    ref[x.customer_id],
                    x.method,
                    x.confidence,
                    x.status,
                    repr(sorted(x.evidence.items())),
                )
                for x in s.exec(select(LinkSuggestion))
            ),
            "keys": sorted(
                (
                    key_name(k.key),
                    k.rule,
                    k.action,
                    ext[k.mention_id],
                    ticket_name(k.target) if k.action == "open_ticket" else k.target,
                )
                for k in s.exec(select(ActionKey))
            ),
            "outbox": sorted(o.idempotency_key for o in s.exec(select(OutboxItem))),
            "audit": Counter((a.action, a.entity_type, repr(sorted(a.detail))) for a in s.exec(select(AuditEntry))),
        }


async def test_a_batch_does_what_one_by_one_does(
    config: Config, db: Database, other_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = SourceConfig(name="shop", type="feed", tags=("campaign",))
    for database in (db, other_db):
        with database.write() as session:
            seed(session)
    batched = await make_pipeline(config, db).process(source, Batch(posts=POSTS, cursor="c1"))

    def batch_fails(*_args: Any) -> None:
        raise RuntimeError("the batch path is switched off for this comparison")

    monkeypatch.setattr(ingest, "_process_batch", batch_fails)
    single = await make_pipeline(config, other_db).process(source, Batch(posts=POSTS, cursor="c1"))
    monkeypatch.undo()

    expected, found = snapshot(other_db), snapshot(db)
    for part in expected:
        assert found[part] == expected[part], part
    # The batch numbers its tickets and drafts as storing them one by one does (ticket numbers are shown).
    assert numbers(db) == numbers(other_db)
    assert (batched.new, batched.tickets, batched.drafts, batched.errors) == (11, 3, 3, 0)
    assert (single.new, single.tickets, single.drafts, single.errors) == (11, 3, 3, 0)
    # What the batch did, spelled out (both paths agree on it, as checked above).
    mentions = found["mentions"]
    assert mentions["shop-1"][:2] == ("K-1001", "identity")
    assert mentions["shop-2"][:2] == ("K-1001", "email")
    assert mentions["shop-5"][:2] == ("K-1002", "order")
    assert mentions["shop-4"][1] == "prospect" and mentions["shop-10"][0] is None
    assert "churn" in mentions["shop-6"][3] and "spike" in mentions["shop-9"][3]
    assert ("shop:t1", "K-1001") in {(t[0], t[1]) for t in found["tickets"]}
    t1 = next(t for t in found["tickets"] if t[0] == "shop:t1")
    assert t1[4] == "urgent" and t1[7] == ["shop-1", "shop-3"]  # joined, and the VIP rule raised it
    old = next(t for t in found["tickets"] if t[0] == "shop:t-old")
    assert old[7] == ["shop-7"]
    assert {s[0]: (s[1], s[2]) for s in found["suggestions"]} == {
        "shop-2": ("K-1001", "email"),
        "shop-4": ("K-1002", "fuzzy_name"),
        "shop-5": ("K-1002", "order"),
        "shop-11": ("K-1001", "fuzzy_name"),
    }
    draft = next(d for d in found["drafts"] if d[0] == "shop-2")
    assert "Anna Schmidt" in draft[1] and "A-20001" in draft[1]


def numbers(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Each ticket's id with its thread and subject, each draft's id with its post."""
    with db.read() as s:
        posts = {m.id: m.external_id for m in s.exec(select(Mention))}
        return (
            sorted((t.id, t.thread_key, t.subject) for t in s.exec(select(Ticket))),
            sorted((d.id, posts[d.mention_id]) for d in s.exec(select(ReplyDraft))),
        )


async def test_a_batch_costs_a_few_statements_not_a_few_per_mention(config: Config, db: Database) -> None:
    """Reads are set-based and writes are bulk: 50 new posts take well under three statements each."""
    with db.write() as session:
        seed(session)
    texts = [
        "Meine Lieferung ist überfällig, ärgerlich",
        "Wie entkalke ich die Maschine?",
        "Super Kaffee, toll!",
        "The delivery never arrived, terrible",
        "How do I reset the grinder?",
    ]
    posts = [raw(n, texts[n % len(texts)], author=f"author{n % 17}", thread=f"t{n}") for n in range(100, 150)]
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    result = await make_pipeline(config, db).process(SourceConfig(name="shop", type="feed"), Batch(posts, "c"))
    assert result.new == 50 and result.tickets == 20 and result.drafts == 20
    assert len(statements) / result.new < 3, "\n".join(statements)
    # The batch's 20 tickets and 20 drafts are written in one insert per table, not one each.
    inserts = Counter(table for s in statements for table in INSERT_INTO.findall(s))
    assert inserts["ticket"] == 1 and inserts["replydraft"] == 1, inserts
    # What the rules made goes in together after the decisions: on PostgreSQL as one statement (one round
    # trip while the batch holds its person locks), on SQLite one insert per table.
    made = ["ticket", "replydraft", "actionkey", "ticketmention", "decision", "auditentry"]
    written = [INSERT_INTO.findall(s) for s in statements if "ticketmention" in s]
    assert written == ([made] if not db.is_sqlite else [["ticketmention"]]), written
    # The 50 links are one UPDATE (on PostgreSQL one statement, not one per row in a pipeline).
    assert sum("link_method" in s for s in statements if s.lstrip().startswith("UPDATE")) == 1
    # A batch that goes through takes no savepoint (a failing one is stored again, one by one: tests below).
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]


LATER_POSTS = [
    raw(12, "Furchtbar schlecht, ärgerlich", author="neu3", thread="t12"),  # only the rule for linked customers
    raw(13, "Die Lieferung fehlt immer noch, ärgerlich", author="anna_s", thread="t1"),  # joins t1's ticket
    raw(14, "Und wie geht das jetzt?", author="neu2", thread="t5"),  # t5's draft key is taken
    raw(15, "Lieferung verspätet, ärgerlich", author="neu4", thread="t15"),  # a new ticket
    raw(16, "How do I clean it?", author="neu5"),  # a new draft
]
LAST_POSTS = [raw(17, "Lieferung kaputt, ärgerlich", author="neu6", thread="t17"), raw(18, "How?", author="neu7")]


async def test_ticket_and_draft_numbers_are_drawn_at_once_without_gaps(config: Config, db: Database) -> None:
    """A batch draws the ids of its new tickets and drafts in one statement (PostgreSQL: one round trip,
    not one per row), as many as it can open: rules that cannot fire for a post (its text, who its
    author is), a thread that already has an open ticket and a draft key already taken draw none, so
    the numbers people see stay without gaps from one batch to the next."""
    with db.write() as session:
        seed(session)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    pipeline = make_pipeline(config, db)
    source = SourceConfig(name="shop", type="feed")
    results, drawn = [], []
    for number, posts in enumerate((POSTS, LATER_POSTS, LAST_POSTS)):
        statements.clear()
        results.append(await pipeline.process(source, Batch(posts, f"c{number}")))
        drawn.append([s for s in statements if "nextval" in s])
    assert [(r.tickets, r.drafts, r.errors) for r in results] == [(3, 3, 0), (1, 1, 0), (1, 1, 0)]
    if db.engine.dialect.name == "postgresql":
        assert [len(statements) for statements in drawn] == [1, 1, 1], drawn
    else:
        assert drawn == [[], [], []]  # SQLite numbers them itself
    with db.read() as session:
        ticket_ids = sorted(t.id for t in session.exec(select(Ticket)))
        draft_ids = sorted(d.id for d in session.exec(select(ReplyDraft)))
    assert ticket_ids == list(range(1, 7))  # the seeded one, then 3 + 1 + 1
    assert draft_ids == list(range(1, 6))


async def test_batch_lookups_send_one_statement_text_whatever_their_number_of_values(
    config: Config, db: Database
) -> None:
    """PostgreSQL: identities, customers, action keys and tickets are looked up by one array parameter.

    An IN list is a statement text per length of list (one parameter per value): the server parsed and
    planned each afresh, and psycopg could not prepare them. SQLite keeps its IN lists.
    """
    with db.write() as session:
        seed(session)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    pipeline, source = make_pipeline(config, db), SourceConfig(name="shop", type="feed")
    lookups = []
    for first, authors in ((100, 7), (200, 3), (300, 7)):  # prospects made, then 3 and 7 of them again
        posts = [
            raw(first + n, "Lieferung fehlt, ärgerlich", author=f"a{n % authors}", thread=f"t{first + n}")
            for n in range(9)
        ]
        statements.clear()
        await pipeline.process(source, Batch(posts, "c"))
        tables = ("identity", "customer", "actionkey", "ticket")
        lookups.append({s for s in statements if s.startswith("SELECT") and any(f"FROM {t} " in s for t in tables)})
    assert len(lookups[1]) >= 4
    if db.is_sqlite:
        assert lookups[1] != lookups[2]  # IN lists: a text per length
    else:
        assert lookups[1] == lookups[2], lookups[1] ^ lookups[2]


async def test_a_known_authors_mentions_are_stored_linked_without_a_link_update(config: Config, db: Database) -> None:
    """PostgreSQL stores a batch with the links linking will decide: under the person locks it writes none.

    Known authors (a customer's identity, earlier prospects), an address in the text and a post without
    an author are linked as before; only a new author's prospect still needs the UPDATE.
    """
    with db.write() as session:
        seed(session)
    pipeline, source = make_pipeline(config, db), SourceConfig(name="shop", type="feed")
    await pipeline.process(source, Batch([raw(n, "Super Kaffee", author=f"fan{n % 3}") for n in range(100, 106)], "1"))
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    known = [
        raw(200, "Lieferung fehlt, ärgerlich", author="anna_s", thread="t200"),
        raw(201, "Wie entkalke ich?", author="fan0"),
        raw(202, "Bitte an ben@example.com antworten", author="fan1"),
        raw(203, "The delivery never arrived, terrible", author=None),
        raw(204, "Super", author="fan2"),
    ]
    await pipeline.process(source, Batch(known, "2"))
    link_updates = [s for s in statements if s.lstrip().startswith("UPDATE") and "link_method" in s]
    assert len(link_updates) == (1 if db.is_sqlite else 0), link_updates
    await pipeline.process(source, Batch([raw(300, "Super", author="fan0"), raw(301, "Super", author="newbie")], "3"))
    assert len([s for s in statements if s.lstrip().startswith("UPDATE") and "link_method" in s]) == (
        2 if db.is_sqlite else 1
    )
    links = snapshot(db)["mentions"]
    assert links["shop-200"][:3] == ("K-1001", "identity", 1.0)
    assert links["shop-201"][:3] == links["shop-300"][:3] == (links["shop-102"][0], "prospect", 1.0)  # fan0
    assert links["shop-204"][:3] == (links["shop-101"][0], "prospect", 1.0) != links["shop-201"][:3]  # fan2
    assert links["shop-202"][:2] == ("K-1002", "email")
    assert links["shop-203"][:3] == (None, None, None)
    assert links["shop-301"][1:3] == ("prospect", 1.0) and links["shop-301"][0] not in {links["shop-201"][0], None}


async def test_a_link_expected_before_the_locks_gives_way_to_what_linking_decides(
    config: Config, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: an identity that moves to another customer after the expectation was read is followed.

    Nothing the expectation read stays in the session: linking under the locks reads the identity afresh.
    """
    if db.is_sqlite:
        pytest.skip("SQLite stores mentions unlinked first (one writer, no person locks)")
    with db.write() as session:
        seed(session)
    expect = ingest.expect_links

    def expect_then_move(session: Session, *args: Any) -> None:
        expect(session, *args)
        assert not [o for o in session.identity_map.values() if isinstance(o, Customer | Identity)]
        # As another process's commit between this read and the person locks would.
        session.connection().exec_driver_sql(
            "UPDATE identity SET customer_id = (SELECT id FROM customer WHERE customer_ref = 'K-1002')"
            " WHERE handle = 'anna_s'"
        )

    monkeypatch.setattr(ingest, "expect_links", expect_then_move)
    posts = [raw(n, "Lieferung fehlt, ärgerlich", author="anna_s", thread=f"t{n}") for n in (1, 2)]
    await make_pipeline(config, db).process(SourceConfig(name="shop", type="feed"), Batch(posts, "c"))
    links = snapshot(db)["mentions"]
    assert links["shop-1"][:3] == links["shop-2"][:3] == ("K-1002", "identity", 1.0)


async def test_pages_of_two_sources_stored_together_do_what_each_stored_alone_does(
    config: Config, db: Database, other_db: Database
) -> None:
    """Pages queued behind others are stored in one transaction (group commit, ``StoreGroups``): one set
    of person locks, reads and bulk writes for both, with the same mentions, links, tickets, drafts,
    numbers and per-page counts as storing one page after the other."""
    shop, forum = SourceConfig(name="shop", type="feed"), SourceConfig(name="forum", type="feed")
    pages = [(shop, Batch(POSTS[:6], "c1")), (forum, Batch([replace(p, source="forum") for p in POSTS[6:]], "c2"))]
    for database in (db, other_db):
        with database.write() as session:
            seed(session)
    alone = make_pipeline(config, other_db)
    expected = [await alone.process(source, batch) for source, batch in pages]

    together = make_pipeline(config, db)
    queued = []
    for source, batch in pages:
        analyses = await together._classify(batch.posts)
        new_posts = [NewPost(post, analysis) for post, analysis in zip(batch.posts, analyses, strict=True)]
        queued.append(Page(source, batch, new_posts, 0, utcnow()))
    found = await db.run_write(lambda session: together._store_pages(session, queued))

    assert [(r.new, r.tickets, r.drafts, r.errors) for r in found] == [
        (r.new, r.tickets, r.drafts, r.errors) for r in expected
    ]
    assert [(r.new, r.tickets, r.drafts) for r in found] == [(6, 2, 2), (5, 2, 1)]
    assert snapshot(db) == snapshot(other_db)
    assert numbers(db) == numbers(other_db)
    with db.read() as session:
        cursors = {s.name: s.cursor for s in session.exec(select(SourceState))}
    assert cursors == {"shop": "c1", "forum": "c2"}


@pytest.mark.parametrize("failing", ["expected links", "plan"])
async def test_a_bug_in_the_work_before_the_locks_stops_neither_the_page_nor_its_source(
    config: Config, db: Database, other_db: Database, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """What a batch works out before the person locks (on PostgreSQL the links it expects; the plan of
    ids to draw) failing on a post stores the page as storing it without that work does: every mention,
    link, ticket and draft, and the source's new cursor. Before, the error failed the page, and the
    source fetched it again and failed on it at every poll."""
    if failing == "expected links" and db.is_sqlite:
        pytest.skip("SQLite does not expect links before the insert")
    for database in (db, other_db):
        with database.write() as session:
            seed(session)
    source = SourceConfig(name="shop", type="feed")
    expected = await make_pipeline(config, other_db).process(source, Batch(POSTS, "c"))

    def fails(*args: Any) -> Any:
        raise ValueError("a bug on one post")

    if failing == "plan":
        monkeypatch.setattr(ingest.BatchPlan, "of", classmethod(fails))
    else:
        monkeypatch.setattr(ingest, "expect_links", fails)
    found = await make_pipeline(config, db).process(source, Batch(POSTS, "c"))

    assert (found.new, found.tickets, found.drafts) == (expected.new, expected.tickets, expected.drafts) == (11, 3, 3)
    assert snapshot(db) == snapshot(other_db)
    with db.read() as session:
        assert session.exec(select(SourceState.cursor)).one() == "c"
        assert retries.waiting(session) == []


async def test_rule_drafts_approved_at_once_leave_once_with_their_own_numbers(db: Database) -> None:
    """With ``rule_drafts = false`` a batch's drafts are approved as made: each queues its one reply."""
    config = parse_config("[web.four_eyes]\nrule_drafts = false\n" + RULES)
    with db.write() as session:
        seed(session)
    result = await make_pipeline(config, db).process(SourceConfig(name="shop", type="feed"), Batch(POSTS, "c"))
    assert (result.new, result.drafts, result.errors) == (11, 3, 0)  # approved at once, still counted
    with db.read() as session:
        drafts = session.exec(select(ReplyDraft)).all()
        replies = session.exec(select(OutboxItem).where(OutboxItem.kind == "reply")).all()
        decided = [a for d in session.exec(select(Decision)) for a in d.actions if a.get("draft_id")]
    assert len(drafts) == 3 and {d.status for d in drafts} == {"approved"}
    assert sorted(o.idempotency_key for o in replies) == sorted(f"reply:{d.id}" for d in drafts)
    assert sorted(o.payload["draft_id"] for o in replies) == sorted(d.id for d in drafts)
    assert sorted(a["draft_id"] for a in decided) == sorted(d.id for d in drafts)
    assert {a["outcome"] for a in decided} == {"drafted and approved"}


async def test_a_draft_key_taken_meanwhile_never_doubles_the_draft(
    config: Config, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Another writer stored a draft under a key after the batch read the keys: the batch's insert
    fails as a whole, the mentions are processed one by one, and that one mention waits for a retry."""
    racer = raw(20, "How do I descale?", author=None, thread="r1")
    with db.write() as session:
        seed(session)
        earlier = f.mention(session, "an earlier post", source="shop", external_id="shop-19")
        assert earlier.id is not None
        # As another writer's draft would stand, without the action key the batch reads first.
        session.add(
            ReplyDraft(
                text="Hi, from the other writer",
                original_text="Hi, from the other writer",
                mention_id=earlier.id,
                idempotency_key="question-reply|draft_reply|shop:r1|author:-",
            )
        )
    posts = [racer, raw(21, "Wie entkalke ich?", author=None, thread="r2")]
    result = await make_pipeline(config, db).process(SourceConfig(name="shop", type="feed"), Batch(posts, "c"))
    assert (result.new, result.drafts, result.errors) == (2, 1, 1)
    assert "processing them one by one" in caplog.text  # the batch's one insert of drafts failed
    with db.read() as session:
        keys = [d.idempotency_key for d in session.exec(select(ReplyDraft))]
        assert sorted(keys) == [
            "question-reply|draft_reply|shop:r1|author:-",
            "question-reply|draft_reply|shop:r2|author:-",
        ]
        assert [w.mention_id for w in retries.waiting(session)] == [result.mention_ids[0]]


async def test_keep_only_drops_posts_before_classification(config: Config, db: Database) -> None:
    classifier = FakeClassifier()
    source = SourceConfig(name="shop", type="feed", keep_only="acme AND (kaffee OR coffee)")
    posts = [
        raw(1, "Acme Kaffee ist super", author="a"),
        raw(2, "Irgendein anderer Kaffee", author="b"),
        raw(3, "Coffee from ACME never arrived", author="c"),
    ]
    result = await make_pipeline(config, db, classifier).process(source, Batch(posts, "c"))
    assert (result.fetched, result.new, result.filtered, result.duplicates) == (3, 2, 1, 0)
    assert classifier.calls == [2]  # only what was kept was classified
    with db.read() as session:
        assert sorted(session.exec(select(Mention.external_id))) == ["shop-1", "shop-3"]


async def test_the_model_is_loaded_only_when_a_post_is_new(config: Config, db: Database) -> None:
    built: list[FakeClassifier] = []

    def build() -> FakeClassifier:
        built.append(FakeClassifier())
        return built[-1]

    source = SourceConfig(name="shop", type="feed")
    pipeline = make_pipeline(config, db, Classification(build=build))
    await pipeline.process(source, Batch([], "empty"))
    assert built == []
    await pipeline.process(source, Batch(POSTS[:2], "c1"))
    assert len(built) == 1
    again = await pipeline.process(source, Batch(POSTS[:2], "c1"))
    assert again.duplicates == 2 and built[0].calls == [2]


async def test_a_mention_that_fails_is_kept_retried_and_can_be_dismissed(config: Config, db: Database) -> None:
    """A rule's template that breaks on some data fails one mention: it is stored, shown and retried."""
    broken = RULES.replace("Ticket {{ ticket_id }}", "Ticket {{ 1000 // (ticket_id | int) }}")
    source = SourceConfig(name="shop", type="feed")
    posts = [
        raw(1, "Wie entkalke ich?", author="x1", thread="q1"),  # no ticket in its thread: the template fails
        raw(2, "Lieferung kam nie an, ärgerlich", author="x2", thread="q2"),
        raw(3, "How do I descale?", author="x3", thread="q3"),
    ]
    result = await make_pipeline(parse_config(broken), db).process(source, Batch(posts, "c"))
    assert (result.new, result.tickets, result.errors) == (3, 1, 2)
    with db.read() as session:
        waiting = retries.waiting(session)
        assert [w.mention_id for w in waiting] == sorted(result.mention_ids[i] for i in (0, 2))
        assert all("ZeroDivisionError" in w.error for w in waiting)
        health = sources.describe_sources(session, parse_config(broken + _SOURCE), START)
        assert health[0].retrying == 2
        decided = set(session.exec(select(Decision.mention_id)))
        assert decided == {result.mention_ids[1]}  # the others stay stored, without actions for now

    fixed = parse_config(RULES)
    ruleset = compile_rules(list(fixed.rules), fixed.templates, webhooks={"service-desk"})
    later = utcnow() + timedelta(days=1)
    with db.write() as session:
        dismissed = retries.dismiss(session, [result.mention_ids[2]], actor="lead", now=later)
        done = ingest.retry_due(session, fixed, ruleset, later)
    assert dismissed == [result.mention_ids[2]] and done.done == [result.mention_ids[0]]
    with db.read() as session:
        assert [w.mention_id for w in retries.waiting(session)] == []
        assert [w.dismissed_by for w in retries.waiting(session, include_dismissed=True)] == ["lead"]
        draft = session.exec(select(ReplyDraft).where(ReplyDraft.mention_id == result.mention_ids[0])).one()
        assert draft.text.startswith("Hallo x1")
        assert session.exec(select(Decision).where(col(Decision.mention_id) == result.mention_ids[2])).first() is None


_SOURCE = '\n[[sources]]\nname = "shop"\ntype = "feed"\nurl = "https://shop.example/feed.xml"\n'
