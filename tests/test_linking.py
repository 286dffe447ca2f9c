"""Linking mentions to customers: handle, e-mail, phone, order and customer numbers, fuzzy names, review."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update
from sqlmodel import col, func, select

from socialcrm.config import LinkingConfig
from socialcrm.db import Database
from socialcrm.errors import ConflictError
from socialcrm.linking import link_mention, normalize_handle, normalize_phone
from socialcrm.linking.fuzzy import (
    MAX_CANDIDATES,
    NameQuery,
    _candidates,
    candidate_statement,
    fuzzy_matches_batch,
    ranked_candidate_statement,
)
from socialcrm.linking.link import earlier_suggestions_statement
from socialcrm.models import (
    ContactPoint,
    Customer,
    Identity,
    LinkSuggestion,
    Mention,
    MergeCandidate,
    Order,
    table_of,
)
from socialcrm.models.crm import number_key
from socialcrm.services import imports, links
from tests.rules import factories as f

LINKING = LinkingConfig()


def _seed(session):
    anna = f.customer(
        session,
        "K-1001",
        "Anna Schmidt",
        email="anna@example.de",
        phone="+49 170 1234567",
        company="Schmidt GmbH",
        handles={"reddit": "anna_s", "mastodon": "anna@social.example"},
    )
    ben = f.customer(session, "K-1002", "Ben Becker", email="ben@example.com", handles={"feed": "ben becker"})
    f.order(session, "A-12345", anna.id, ["Kettle"])
    f.order(session, "700123", ben.id, ["Toaster"])
    return anna, ben


LINKS = [
    # text, author, source_type, method, who, confidence
    ("Hallo", "anna_s", "reddit", "identity", "anna", 1.0),
    ("Hallo", "/u/Anna_S", "reddit", "identity", "anna", 1.0),
    ("Hi", "@Anna@social.example", "mastodon", "identity", "anna", 1.0),
    ("Hi", "Ben  Becker", "feed", "identity", "ben", 1.0),
    ("Schreibt mir an Anna@Example.de bitte", "neu1", "reddit", "email", "anna", 0.9),
    ("Ruft mich an: 0170 / 123 45 67", "neu2", "feed", "phone", "anna", 0.85),
    ("Meine Bestellung 12345 fehlt", "neu3", "feed", None, None, None),  # 12345 is no order number here
    ("Meine Bestellung A-12345 fehlt", "neu4", "feed", "order", "anna", 0.9),
    ("order #A12345 is late", "new5", "reddit", "order", "anna", 0.9),
    ("Bestellnummer: 700123, wo bleibt sie?", "neu6", "feed", "order", "ben", 0.9),
    ("Kundennummer K-1002, bitte melden", "neu7", "feed", "customer_ref", "ben", 0.9),
    ("Order A-12345, mail anna@example.de", "neu8", "feed", "email", "anna", 0.95),  # two clues agree
    (
        "Write to @anna@example.de on mastodon",
        "neu9",
        "mastodon",
        None,
        None,
        None,
    ),  # a handle, not an e-mail
]


@pytest.mark.parametrize(
    ("text", "author", "platform", "method", "who", "confidence"),
    LINKS,
    ids=[f"{x[3]}:{x[0][:24]}" for x in LINKS],
)
def test_link(db, text, author, platform, method, who, confidence) -> None:
    with db.write() as session:
        anna, ben = _seed(session)
        mention = f.mention(session, text, author=author, source_type=platform)
        result = link_mention(session, mention, LINKING, f.NOW)
        expected_id = {"anna": anna.id, "ben": ben.id}.get(who)
        if method is None:
            assert mention.link_method == "prospect"
            prospect = session.get(Customer, mention.customer_id)
            assert prospect.is_prospect and result.prospect is not None
        else:
            assert (mention.customer_id, mention.link_method) == (expected_id, method)
            assert mention.link_confidence == pytest.approx(confidence)
        if method not in (None, "identity"):
            # text evidence links the mention; tying the handle to the customer waits for a person
            assert [s.customer_id for s in result.suggestions] == [expected_id]
            assert (
                session.exec(
                    select(Identity).where(Identity.customer_id == expected_id, Identity.handle == author)
                ).first()
                is None
            )


def test_unknown_authors_become_one_prospect_per_platform_identity(db) -> None:
    with db.write() as session:
        ids = []
        for author, platform in [("neugier", "reddit"), ("Neugier", "reddit"), ("neugier", "mastodon")]:
            mention = f.mention(session, "Hallo", author=author, source_type=platform)
            link_mention(session, mention, LINKING, f.NOW)
            ids.append(mention.customer_id)
        assert ids[0] == ids[1] != ids[2]
        assert session.exec(select(func.count()).select_from(Customer).where(Customer.is_prospect)).one() == 2
        anonymous = f.mention(session, "no author", author=None)
        result = link_mention(session, anonymous, LINKING, f.NOW)
        assert (anonymous.customer_id, result.method) == (None, None)


def test_fuzzy_name_is_only_a_suggestion(db) -> None:
    with db.write() as session:
        anna, _ = _seed(session)
        mention = f.mention(session, "Die Firma Schmidt GmbH wartet", author="a.schmid", author_name="Anna Schmid")
        result = link_mention(session, mention, LINKING, f.NOW)
        assert mention.link_method == "prospect" and mention.customer_id != anna.id
        [suggestion] = result.suggestions
        assert (suggestion.customer_id, suggestion.method, suggestion.status) == (
            anna.id,
            "fuzzy_name",
            "pending",
        )
        assert suggestion.evidence["company_in_text"] is True
        again = f.mention(session, "Noch was", author="a.schmid", author_name="Anna Schmid")
        assert link_mention(session, again, LINKING, f.NOW).suggestions == []  # not suggested twice


def test_email_of_two_customers_is_ambiguous_and_waits_for_review(db) -> None:
    with db.write() as session:
        one = f.customer(session, "K-1", "Carl", email="shared@example.org")
        two = f.customer(session, "K-2", "Carla", email="shared@example.org")
        mention = f.mention(session, "Mail: shared@example.org", author="carl_or_carla")
        result = link_mention(session, mention, LINKING, f.NOW)
        assert mention.link_method == "prospect"
        assert sorted(s.customer_id for s in result.suggestions) == sorted([one.id, two.id])
        assert all(s.evidence["ambiguous"] for s in result.suggestions)


def test_confirming_a_suggestion_ties_the_identity_and_merges_the_prospect(db) -> None:
    with db.write() as session:
        anna, _ = _seed(session)
        earlier = f.mention(session, "Erster Beitrag", author="anna_forum")
        link_mention(session, earlier, LINKING, f.NOW)
        prospect_id = earlier.customer_id
        mention = f.mention(session, "anna@example.de hier", author="anna_forum")
        link_mention(session, mention, LINKING, f.NOW)
    with db.read() as session:
        [view] = links.pending(session)
        assert (view.customer.customer_ref, view.mention.id, view.suggestion.method) == (
            "K-1001",
            mention.id,
            "email",
        )
    with db.write() as session:
        links.confirm(session, view.suggestion.id, actor="lead")
        with pytest.raises(ConflictError, match="already confirmed"):
            links.confirm(session, view.suggestion.id, actor="lead")
    with db.read() as session:
        identity = session.exec(select(Identity).where(Identity.handle == "anna_forum")).one()
        assert identity.customer_id == anna.id
        assert session.get(Mention, earlier.id).customer_id == anna.id  # the prospect's history followed
        assert session.get(Mention, earlier.id).link_method == "identity"
        assert session.get(Customer, prospect_id).merged_into_id == anna.id
        assert links.pending(session) == []
    with db.write() as session:
        later = f.mention(session, "Ohne Mail", author="anna_forum")
        link_mention(session, later, LINKING, f.NOW)
        assert (later.customer_id, later.link_method) == (anna.id, "identity")


def test_rejecting_a_suggestion_returns_the_mention_and_never_asks_again(db) -> None:
    with db.write() as session:
        anna, _ = _seed(session)
        mention = f.mention(session, "Meine Freundin anna@example.de hat das auch", author="freundin")
        link_mention(session, mention, LINKING, f.NOW)
        assert mention.customer_id == anna.id
        suggestion = session.exec(select(LinkSuggestion)).one()
    with db.write() as session:
        links.reject(session, suggestion.id, actor="lead")
    with db.read() as session:
        stored = session.get(Mention, mention.id)
        assert stored.link_method == "prospect" and stored.customer_id != anna.id
    with db.write() as session:
        again = f.mention(session, "Nochmal anna@example.de", author="freundin")
        result = link_mention(session, again, LINKING, f.NOW)
        assert result.suggestions == []


def test_confirm_refuses_to_move_a_handle_of_another_customer(db) -> None:
    with db.write() as session:
        anna, ben = _seed(session)
        mention = f.mention(session, "x", author="anna_s", source_type="reddit")
        suggestion = LinkSuggestion(mention_id=mention.id, customer_id=ben.id, method="fuzzy_name", confidence=0.9)
        session.add(suggestion)
        session.flush()
        with pytest.raises(ConflictError, match="belongs to customer K-1001"):
            links.confirm(session, suggestion.id, actor="lead")
        assert session.exec(select(func.count()).select_from(MergeCandidate)).one() == 0


def test_merged_customer_links_to_the_survivor(db) -> None:
    from socialcrm.services.merges import merge_customers

    with db.write() as session:
        anna, ben = _seed(session)
        merge_customers(session, anna.id, ben.id, actor="lead")
        mention = f.mention(session, "hi", author="ben becker", source_type="feed")
        link_mention(session, mention, LINKING, f.NOW)
        assert (mention.customer_id, mention.link_method) == (anna.id, "identity")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("+49 170 1234567", "491701234567"),
        ("0049 (170) 123-4567", "491701234567"),
        ("0170/1234567", "01701234567"),
        ("12", None),
        ("call me", None),
    ],
)
def test_phone_normal_form(raw: str, normal: str | None) -> None:
    assert normalize_phone(raw) == normal


@pytest.mark.parametrize(
    ("platform", "raw", "normal"),
    [
        ("reddit", "/u/Some_User", "some_user"),
        ("mastodon", "@Alice@Social.Example", "alice@social.example"),
        ("feed", "  Jörg   Müller ", "jörg müller"),
        ("bluesky", "@alice.bsky.social", "alice.bsky.social"),
    ],
)
def test_handle_normal_form(platform: str, raw: str, normal: str) -> None:
    assert normalize_handle(platform, raw) == normal


IMPORTED = b"""customer_ref,name,email,phone,company,segment,reddit,mastodon,bluesky,discourse,hackernews,feed
K-7001,J\xc3\xb6rg M\xc3\xbcller,joerg.mueller@example.de,+49 40 5556667,M\xc3\xbcller Kaffee GmbH,business,,,,,,
K-7002,Emma Clarke,emma.clarke@example.com,,,private,,,,,,espresso_emma
"""
IMPORTED_ORDERS = b"order_number,customer_ref,date,product,status\nB-4711,K-7001,2026-11-05,Barista 3000,shipped\n"


def test_customers_imported_from_csv_are_linked_by_every_route(db) -> None:
    """Imported customers (whatever way the import writes them) carry the keys linking looks them up by."""
    with db.write() as session:
        imports.import_customers(session, IMPORTED, actor="test")
        imports.import_orders(session, IMPORTED_ORDERS, actor="test")
    with db.write() as session:
        joerg = session.exec(select(Customer).where(Customer.customer_ref == "K-7001")).one()
        emma = session.exec(select(Customer).where(Customer.customer_ref == "K-7002")).one()
        routes = [
            ("Hallo", "espresso_emma", None, "identity", emma.id),
            ("Schreibt an Joerg.Mueller@example.de", "neu1", None, "email", joerg.id),
            ("Rückruf unter 040 555 66 67", "neu2", None, "phone", joerg.id),
            ("Bestellung b4711 fehlt", "neu3", None, "order", joerg.id),
            ("Kundennummer k7002", "neu4", None, "customer_ref", emma.id),
        ]
        for text, author, name, method, expected in routes:
            mention = f.mention(session, text, author=author, author_name=name)
            link_mention(session, mention, LINKING, f.NOW)
            assert (mention.link_method, mention.customer_id) == (method, expected), text
        by_name = f.mention(session, "Die Müller Kaffee GmbH", author="jm", author_name="Jörg Müler")
        [suggestion] = link_mention(session, by_name, LINKING, f.NOW).suggestions
        assert (by_name.link_method, suggestion.customer_id, suggestion.method) == ("prospect", joerg.id, "fuzzy_name")
    renamed = IMPORTED.replace(b"Emma Clarke", b"Emma Whitfield")
    with db.write() as session:
        imports.import_customers(session, renamed, actor="test")  # a re-import updates the name
        mention = f.mention(session, "Hello there", author="ewhit", author_name="Emma Whitfield")
        [suggestion] = link_mention(session, mention, LINKING, f.NOW).suggestions
        assert (suggestion.customer_id, suggestion.method) == (emma.id, "fuzzy_name")


def _plan(connection, statement) -> str:
    """SQLite's query plan of ``statement``, as one string."""
    compiled = statement.compile(connection, compile_kwargs={"render_postcompile": True})
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    return str(connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all())


def test_order_and_customer_numbers_are_looked_up_through_their_expression_indexes(tmp_path):
    """SQLite matches an index on ``replace(upper(x), '-', '')`` only when the query writes the same literals."""
    db = Database(f"sqlite:///{tmp_path / 'plan.db'}")
    db.upgrade()
    try:
        with db.read() as session:
            connection = session.connection()
            for column, index in (
                (Order.order_number, "ix_order_number_key"),
                (Customer.customer_ref, "ix_customer_ref_key"),
            ):
                statement = select(column).where(number_key(col(column)).in_(["A1000001", "A1000002"]))
                plan = _plan(connection, statement)
                assert index in plan, plan
    finally:
        db.dispose()


def test_name_candidates_and_earlier_suggestions_are_read_through_selective_indexes(tmp_path):
    """Neither lookup walks a yes/no or status index, which holds every customer or every pending suggestion.

    Without statistics SQLite takes any index on an equality as selective: a filter on ``is_prospect``
    or ``status`` in these queries made it read all 100,000 customers, or the whole review backlog, per batch.
    """
    db = Database(f"sqlite:///{tmp_path / 'plan.db'}")
    db.upgrade()
    try:
        with db.read() as session:
            connection = session.connection()
            for statement in (candidate_statement, ranked_candidate_statement):
                names = _plan(connection, statement(["862|06", "06|862"], ["862|0"]))
                assert "ix_customer_fuzzy_key" in names and "ix_customer_is_prospect" not in names, names
                assert "SCAN customer" not in names, names
            earlier = _plan(connection, earlier_suggestions_statement(["anna_s", "ben"], [1, 2, 3]))
            assert "ix_linksuggestion_customer_id" in earlier and "ix_linksuggestion_status" not in earlier, earlier
            # E-mails in posts: the unique (kind, value, customer_id) index, since ix_contactpoint_value is gone.
            emails = select(ContactPoint.customer_id).where(
                ContactPoint.kind == "email", col(ContactPoint.value).in_(["anna@example.de", "ben@example.com"])
            )
            plan = _plan(connection, emails)
            assert "SEARCH contactpoint USING" in plan and "(kind=? AND value=?)" in plan, plan
    finally:
        db.dispose()


NEW_CUSTOMER = {
    "tags": [],
    "consent_marketing": False,
    "consent_contact": True,
    "is_prospect": False,
    "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
}


def test_a_names_candidates_do_not_depend_on_the_other_names_in_its_batch(db) -> None:
    """A common name with more candidates than the limit keeps the same, lowest-id ones, and leaves the others theirs.

    The candidates of a batch's names came from one query with one LIMIT and no ORDER BY: 2,000
    namesakes of "Anna Schmidt" used it up, and "Bernd Schmidt", a customer, was not suggested for a
    post of his that happened to share the batch. Each key now keeps its own lowest ids, whether the
    plain read held every row (the cut is made in Python) or the database ranked them (past the bound).
    """
    table = table_of(Customer)
    with db.write() as session:
        session.execute(
            insert(table),
            [
                {**NEW_CUSTOMER, "customer_ref": f"anna-{i:04d}", "name": "Anna Schmidt", "fuzzy_key": "862|06"}
                for i in range(4 * MAX_CANDIDATES)  # the old LIMIT of a batch of two names (four keys)
            ],
        )
        bernd = f.customer(session, "bernd", "Bernd Schmidt")
        assert bernd.fuzzy_key == "862|1762"
        bernd_id = bernd.id
    queries = [NameQuery("Anna Schmidt", ()), NameQuery("Bernd Schmidt", ())]
    with db.read() as session:
        alone = fuzzy_matches_batch(session, queries[1:], 0.85)[0]
        together = fuzzy_matches_batch(session, queries, 0.85)  # past the bound: ranked by the database
        ranked = sorted(row.id for row in session.execute(ranked_candidate_statement(["862|06"], [])))
        # Under the bound (six keys): every row read, the same cut made here.
        plain = _candidates(session, ["06|862", "1762|862", "862|06", "862|1762", "x|1", "x|2"], [])
    assert [m.customer_id for m in alone] == [bernd_id]
    assert together[1] == alone
    assert len(ranked) == MAX_CANDIDATES and ranked == list(range(ranked[0], ranked[0] + MAX_CANDIDATES))
    assert [c[0] for c in plain["862|06"]] == ranked and [c[0] for c in plain["862|1762"]] == [bernd_id]
    assert [m.customer_id for m in together[0]] == ranked[:3]  # namesakes: the same score, the lowest ids first
    # Records merged away take no place: the next ids come in.
    with db.write() as session:
        session.execute(update(table).where(table.c.id.in_(ranked[:10])).values(merged_into_id=bernd_id))
    with db.read() as session:
        kept = sorted(row.id for row in session.execute(ranked_candidate_statement(["862|06"], [])))
    assert kept == list(range(ranked[10], ranked[10] + MAX_CANDIDATES))
