"""Linking among 100,000 customers (issue 16): the right customer by handle, e-mail, phone and order number.

The customers are the benchmark's (bench/crm_data.py: German and English names, many shared first and
surnames, 1% re-entered records) written by the CSV import, as a company would load them. A batch of
posts then goes through the pipeline. Fuzzy names only ever suggest: the post stays with its author's
prospect. SQLite only, once per run: the size, not the database, is what is at stake here (the
lookups are the same statements on PostgreSQL, whose linking tests run in tests/test_linking.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from bench.crm_data import customers_csv, generate_orders, generate_people, orders_csv
from connectors.base import Batch, RawPost
from socialcrm.config import SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.linking.normalize import normalize_name
from socialcrm.models import Customer, LinkSuggestion, Mention
from socialcrm.pipeline import Pipeline
from socialcrm.rules.loader import compile_rules
from socialcrm.services import imports
from tests.core.fakes import FakeClassifier

CUSTOMERS = 100_000
ORDERS = 20_000
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _spelled(name: str) -> str:
    """A name as linking compares it: folded, in any word order."""
    return " ".join(sorted(normalize_name(name).split()))


def _post(source: str, n: int, author: str, text: str, name: str | None = None) -> RawPost:
    return RawPost(
        source=source,
        external_id=f"p{n}",
        url=f"https://example.social/p/{n}",
        author_handle=author,
        author_name=name,
        title=None,
        body=text,
        published_at=NOW,
    )


async def test_the_right_customer_among_100000(tmp_path: Path) -> None:
    people = generate_people(CUSTOMERS)
    lines = generate_orders(people, ORDERS)
    db = Database(f"sqlite:///{tmp_path / 'crm.db'}")
    db.upgrade()
    with db.write() as session:
        assert not imports.import_customers(session, customers_csv(people), actor="test").rejected
        assert not imports.import_orders(session, orders_csv(lines), actor="test").rejected

    # Customers nobody re-entered, and contact points only one record has (else the post is ambiguous).
    reentered = {p.duplicate_of for p in people}
    originals = [p for p in people if p.duplicate_of is None and p.ref not in reentered]
    points = Counter(value for p in people for value in (*p.emails, *p.phones))
    on_mastodon = [p for p in originals if "mastodon" in p.handles][7]
    by_mail = next(p for p in originals[5000:] if points[p.emails[0]] == 1)
    by_phone = next(p for p in originals[60000:] if p.phones and points[p.phones[0]] == 1)
    order = lines[len(lines) // 2]
    names = Counter(_spelled(p.name) for p in people)  # "Hall, Mark" and "Mark Hall" are one name
    by_name = next(p for p in originals[90000:] if names[_spelled(p.name)] == 1)
    mastodon = [_post("social", 1, on_mastodon.handles["mastodon"], "Hallo, kurze Frage")]
    feed = [
        _post("blog", 2, "neu2", f"Bitte an {by_mail.emails[0].upper()} antworten"),
        _post("blog", 3, "neu3", f"Rückruf unter {by_phone.phones[0]}"),
        _post("blog", 4, "neu4", f"Bestellung {order.number} ist nicht angekommen"),
        _post("blog", 5, "neu5", "Kaffee schmeckt gut", name=by_name.name),
    ]

    config = parse_config("")
    pipeline = Pipeline(config, db, FakeClassifier(), compile_rules([], {}, webhooks=set()))
    for source, posts in (
        (SourceConfig(name="social", type="mastodon"), mastodon),
        (SourceConfig(name="blog", type="feed"), feed),
    ):
        result = await pipeline.process(source, Batch(posts=posts, cursor="c"))
        assert (result.new, result.errors) == (len(posts), 0)

    with db.read() as session:
        ref = {c.id: (c.customer_ref, c.is_prospect) for c in session.exec(select(Customer))}
        linked = {m.external_id: (m.link_method, ref[m.customer_id][0]) for m in session.exec(select(Mention))}
        assert linked["p1"] == ("identity", on_mastodon.ref)
        assert linked["p2"] == ("email", by_mail.ref)
        assert linked["p3"] == ("phone", by_phone.ref)
        assert linked["p4"] == ("order", order.ref)
        named = session.exec(select(Mention).where(Mention.external_id == "p5")).one()
        assert named.link_method == "prospect" and ref[named.customer_id][1]  # a suggestion, never a merge
        suggested = session.exec(select(LinkSuggestion).where(LinkSuggestion.mention_id == named.id)).all()
        found = {ref[s.customer_id][0]: (s.method, s.status, s.confidence) for s in suggested}
        assert found[by_name.ref][:2] == ("fuzzy_name", "pending")  # among the few suggested, the best scored
        assert found[by_name.ref][2] == max(confidence for *_, confidence in found.values())
    db.dispose()
