"""Imports in batches, at a few thousand generated rows: what is stored, re-imports, duplicates, refused rows."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import func, text
from sqlmodel import select

from bench.crm_data import customers_csv, generate_orders, generate_people, orders_csv
from socialcrm.linking.normalize import normalize_email, normalize_handle, normalize_phone
from socialcrm.models import AuditEntry, ContactPoint, Customer, Identity, MergeCandidate, Order, utcnow
from socialcrm.models.keys import contact_key, name_key
from socialcrm.services.bulk import Bulk, write_safely
from socialcrm.services.imports import import_customers, import_orders
from socialcrm.services.imports.duplicates import GROUP_LIMIT

PEOPLE = generate_people(2500, seed=11, duplicate_share=0.02)


def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    return int(session.exec(select(func.count()).select_from(model)).one())


def test_generated_customers_orders_and_reimports(db) -> None:
    with db.write() as session:
        report = import_customers(session, customers_csv(PEOPLE), name="people.csv")
    assert (report.rows, report.created, report.rejected) == (2500, 2500, [])
    with db.read() as session:
        ids = dict(session.exec(select(Customer.customer_ref, Customer.id)).all())
        points = {
            (c, k, v)
            for c, k, v in session.exec(select(ContactPoint.customer_id, ContactPoint.kind, ContactPoint.value))
        }
        handles = {
            (p, h, c) for p, h, c in session.exec(select(Identity.platform, Identity.handle, Identity.customer_id))
        }
        audit = Counter(session.exec(select(AuditEntry.action)).all())
        pairs = {(m.customer_a_id, m.customer_b_id) for m in session.exec(select(MergeCandidate))}
        keys_ok = all(
            k == contact_key(kind, v)
            for kind, v, k in session.exec(select(ContactPoint.kind, ContactPoint.value, ContactPoint.match_key))
        )
        names_ok = all(
            k == name_key(n, c) for n, c, k in session.exec(select(Customer.name, Customer.company, Customer.name_key))
        )
    expected_points = {(ids[p.ref], "email", normalize_email(e)) for p in PEOPLE for e in p.emails}
    expected_points |= {(ids[p.ref], "phone", normalize_phone(n)) for p in PEOPLE for n in p.phones}
    assert points == expected_points
    assert handles == {(pl, normalize_handle(pl, h), ids[p.ref]) for p in PEOPLE for pl, h in p.handles.items()}
    assert (audit["customer.create"], audit["import.customers"]) == (2500, 1)
    assert keys_ok and names_ok
    # Every re-entered customer is listed beside the one it re-enters, and nothing is merged.
    twins = [(ids[p.duplicate_of], ids[p.ref]) for p in PEOPLE if p.duplicate_of]
    assert len(twins) > 20 and all(pair in pairs for pair in twins)
    assert len(report.merge_candidates) == len(pairs) == len(report.duplicates)

    changed = [replace(p, segment="vip") if i % 50 == 0 else p for i, p in enumerate(PEOPLE)]
    with db.write() as session:
        again = import_customers(session, customers_csv(changed), name="people.csv")
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 50, 2450, [])
    assert again.merge_candidates == []  # listed once
    with db.read() as session:
        assert _count(session, Customer) == 2500
        assert _count(session, ContactPoint) == len(expected_points)
        assert session.exec(select(Customer.segment).where(Customer.customer_ref == PEOPLE[0].ref)).one() == "vip"
        assert session.exec(select(func.count()).where(Customer.merged_into_id.is_not(None))).one() == 0  # type: ignore[union-attr]

    lines = generate_orders(PEOPLE, 3000, seed=3)
    with db.write() as session:
        orders = import_orders(session, orders_csv(lines), name="orders.csv")
        repeat = import_orders(session, orders_csv(lines), name="orders.csv")
    numbers = {line.number for line in lines}
    assert (orders.rows, orders.created, orders.rejected) == (len(lines), len(numbers), [])
    assert (repeat.created, repeat.updated, repeat.unchanged) == (0, 0, len(numbers))
    with db.read() as session:
        stored = dict(session.exec(select(Order.order_number, Order.products)).all())
    first = lines[0]
    assert [line.product for line in lines if line.number == first.number] == stored[first.number]


def test_a_refused_row_is_rejected_and_the_rest_of_its_batch_stored(db) -> None:
    with db.write() as session:
        session.add(Customer(customer_ref="K-1"))
        session.flush()
        customer_id = session.exec(select(Customer.id)).one()
        bulk, columns, now = Bulk(session), ("order_number", "customer_id", "products", "updated_at"), utcnow()
        bulk.insert(Order.__table__, columns, [("A-3", customer_id, [], now)])
        refused: list[tuple[str, str]] = []

        def write(items):  # type: ignore[no-untyped-def]
            return bulk.insert(Order.__table__, columns, [(n, customer_id, [], now) for n in items])

        kept = write_safely(bulk, ["A-1", "A-2", "A-3", "A-4"], write, lambda item, why: refused.append((item, why)))
        numbers = sorted(session.exec(select(Order.order_number)).all())
    assert kept == [1, 1, 1]  # the batch failed as a whole, then each order went in alone
    assert [item for item, _ in refused] == ["A-3"]
    assert refused[0][1].startswith("the database refused the row: ")
    assert numbers == ["A-1", "A-2", "A-3", "A-4"]


def test_lookups_alone_are_planned_for_their_values(db) -> None:
    """PostgreSQL: force_custom_plan holds inside ``custom_plans`` only, also when a batch is refused and redone.

    Outside it the foreign-key check of every inserted row keeps its cached plan (re-planned per row, they
    cost a 100,000-customer import about 2 s of server time).
    """
    if db.is_sqlite:
        pytest.skip("plan_cache_mode is PostgreSQL's")
    show = text("SHOW plan_cache_mode")
    data = b"customer_ref,name,email\nK-1,Anna Schmidt,anna@example.de\nK-2,Ben Becker,ben@example.com\n"
    with db.write() as session:
        bulk = Bulk(session)
        before = session.execute(show).scalar_one()
        with bulk.custom_plans():
            inside = session.execute(show).scalar_one()
        after = session.execute(show).scalar_one()
        import_customers(session, data, name="people.csv")
        after_import = session.execute(show).scalar_one()
        refused: list[str] = []

        def write(items):  # type: ignore[no-untyped-def]
            with bulk.custom_plans():
                session.execute(text("SELECT 1 / 0"))  # refused inside the block: its savepoint is rolled back
            return len(items)

        write_safely(bulk, ["a"], write, lambda item, why: refused.append(item))
        after_refusal = session.execute(show).scalar_one()
    assert (before, inside, after, after_import, after_refusal) == ("auto", "force_custom_plan", "auto", "auto", "auto")
    assert refused == ["a"]


def test_a_key_shared_by_very_many_is_noted_not_paired(db) -> None:
    rows = [f"K-{i},Person {i},+49 30 5550000" for i in range(GROUP_LIMIT + 5)]
    rows += ["K-a,Anna A,+49 170 1112223", "K-b,Bert B,0170 1112223", "K-c,Carl C,anna@example.de"]
    data = ("customer_ref,name,phone\n" + "\n".join(rows) + "\n").encode()
    with db.write() as session:
        report = import_customers(session, data)
    assert [(a, b, why) for _, a, b, why in report.duplicates] == [("K-a", "K-b", "same phone 701112223")]
    assert [e.line for e in report.rejected] == [GROUP_LIMIT + 9]  # K-c (after the header and 27 rows): no phone
    assert report.notes == [f"same phone 305550000: {GROUP_LIMIT + 5} customers; not listed as merge candidates"]


def test_one_handle_claimed_twice_in_a_file_keeps_the_first(db) -> None:
    data = b"customer_ref,name,reddit\nK-1,Anna,anna_s\nK-2,Anne,u/Anna_S\nK-3,Bert,bert\n"
    with db.write() as session:
        report = import_customers(session, data)
    assert [(e.line, e.reason) for e in report.rejected] == [
        (3, "reddit handle 'u/Anna_S' already belongs to customer K-1")
    ]
    assert report.created == 2


def test_progress_is_reported_to_the_end(db) -> None:
    seen: list[tuple[str, int, int]] = []
    with db.write() as session:
        import_customers(session, customers_csv(PEOPLE[:1200]), progress=lambda *step: seen.append(step))
    customers = [step for step in seen if step[0] == "customers"]
    assert customers[0] == ("customers", 0, 1200) and customers[-1] == ("customers", 1200, 1200)
    assert [done for _, done, _ in customers] == sorted(done for _, done, _ in customers)
    assert seen[-1][0] == "duplicates" and seen[-1][1] == seen[-1][2]


def test_progress_bar_draws_only_on_a_terminal() -> None:
    from socialcrm.cli.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen, pipe = Terminal(), io.StringIO()
    for stream in (screen, pipe):
        bar = ProgressBar(stream, interval=0)
        bar("customers", 500, 1000)
        bar("customers", 1000, 1000)
        bar.close()
    assert "customers: [" + "#" * 15 + " " * 15 + "]  50%  500/1,000" in screen.getvalue()
    assert " 100%  1,000/1,000" in screen.getvalue() and screen.getvalue().endswith("\r\x1b[K")
    assert pipe.getvalue() == ""


def test_the_migration_fills_match_keys_of_existing_rows(database_url: str) -> None:
    from alembic import command

    from socialcrm.db import Database, alembic_config

    db = Database(database_url)
    with db.engine.begin() as connection:
        cfg = alembic_config(database_url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "b3e59832a6ed")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO customer (id, customer_ref, name, company, tags, consent_marketing, "
                "consent_contact, is_prospect, created_at, updated_at) VALUES (1, 'K-1', 'Jörg Müller', "
                "'Müller GmbH', '[]', false, true, false, '2026-01-01', '2026-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO contactpoint (customer_id, kind, value) VALUES "
                "(1, 'phone', '4930123456789'), (1, 'email', 'j@example.de')"
            )
        )
    db.upgrade()
    with db.read() as session:
        assert session.exec(select(Customer.name_key)).one() == "joerg mueller|mueller gmbh"
        assert sorted(session.exec(select(ContactPoint.match_key)).all()) == ["123456789", "j@example.de"]
    db.dispose()


def test_match_keys_follow_every_change_made_through_the_orm(db) -> None:
    from socialcrm.services.customers import add_contact, update_customer
    from socialcrm.services.merges import merge_customers

    with db.write() as session:
        keep, other = Customer(customer_ref="K-1", name="Jörg Müller"), Customer(customer_ref="K-2", company="Groß AG")
        session.add_all([keep, other])
        session.flush()
        assert (keep.name_key, other.name_key) == (None, None)  # a name key needs both name and company
        update_customer(session, keep.id, actor="t", company="Müller GmbH")
        session.flush()
        assert keep.name_key == "joerg mueller|mueller gmbh"
        point = add_contact(session, keep.id, "phone", "+49 (0)30 1234-5678", actor="t")
        same = add_contact(session, other.id, "phone", "030 12345678", actor="t")
        assert point is not None and same is not None
        assert point.match_key == same.match_key == "012345678"
        update_customer(session, other.id, actor="t", name="Jörg Müller")
        merge_customers(session, other.id, keep.id, actor="t")  # the kept record's empty fields are filled
        session.flush()
        assert other.name_key == "joerg mueller|gross ag"


def test_the_ascii_shortcut_folds_names_like_the_rules_do() -> None:
    from socialcrm.models.keys import folded_name
    from socialcrm.rules.text import words

    for name in ("Anna Müller", "O'Brien & Sons Ltd.", "ÖZLEM YILMAZ", "Ærø Straße", "plain Name-Two", "  "):
        assert folded_name(name) == " ".join(words(name))


def test_ahead_hands_over_items_and_errors_and_stops_with_its_consumer() -> None:
    from itertools import count

    import pytest

    from socialcrm.services.bulk import ahead

    assert list(ahead(iter(range(10)), depth=2)) == list(range(10))

    def failing():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        list(ahead(failing()))
    produced: list[int] = []

    def endless():  # type: ignore[no-untyped-def]
        for i in count():
            produced.append(i)
            yield i

    items = ahead(endless(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # joins the worker
    stopped_at = len(produced)
    assert stopped_at <= 7 and len(produced) == stopped_at
