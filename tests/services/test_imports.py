"""CSV imports of customers and orders: broken rows reported by line, mapping, re-import, duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import func, select

from socialcrm.errors import InvalidInputError
from socialcrm.models import ContactPoint, Customer, Identity, Mention, MergeCandidate, Order
from socialcrm.services import imports
from socialcrm.services.imports import ImportFileError, import_customers, import_orders, parse_mapping
from tests.rules import factories as f

DATA = Path(__file__).resolve().parent.parent / "data" / "crm"


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _customer(session, ref: str) -> Customer:
    return session.exec(select(Customer).where(Customer.customer_ref == ref)).one()


def test_default_columns_with_bom_lists_and_handles(db) -> None:
    with db.write() as session:
        report = import_customers(session, _read("customers.csv"), name="customers.csv")
    assert (report.created, report.updated, report.rejected) == (3, 0, [])
    with db.read() as session:
        anna = _customer(session, "K-1001")
        assert (anna.name, anna.company, anna.segment) == ("Anna Schmidt", "Schmidt GmbH", "premium")
        handles = {
            (i.platform, i.handle) for i in session.exec(select(Identity).where(Identity.customer_id == anna.id))
        }
        assert handles == {("reddit", "anna_s"), ("mastodon", "anna@social.example")}
        chris = _customer(session, "K-1003")
        assert chris.name == "Baker, Chris"
        emails = session.exec(select(ContactPoint.value).where(ContactPoint.customer_id == chris.id)).all()
        assert sorted(emails) == ["c.baker@work.example", "chris@example.com"]
        joerg = _customer(session, "K-1002")
        feed = session.exec(select(Identity).where(Identity.platform == "feed")).one()
        assert (feed.customer_id, feed.handle) == (joerg.id, "jörg müller")
        phone = session.exec(
            select(ContactPoint.value).where(ContactPoint.customer_id == joerg.id, ContactPoint.kind == "phone")
        ).one()
        assert phone == "0301234567"


def test_every_broken_row_is_reported_by_line_while_valid_rows_import(db) -> None:
    with db.write() as session:
        report = import_customers(session, _read("customers_broken.csv"))
    problems = {e.line: e.reason for e in report.rejected}
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 11]
    assert problems[3] == "customer_ref is empty"
    assert problems[4] == "email 'not-an-email' is not an e-mail address"
    assert problems[5] == "phone 'call me maybe' is not a phone number"
    assert problems[6] == "customer_ref 'K-2001' already appears on line 2"
    assert problems[7] == "reddit handle 'two words' contains spaces"
    assert problems[8].startswith("1 more cell(s) than the header has")
    assert problems[11] == "customer_ref 'K 2009': at most 128 characters, no spaces"
    assert report.created == 3
    with db.read() as session:
        refs = sorted(session.exec(select(Customer.customer_ref)).all())
        assert refs == ["K-2001", "K-2008", "K-2010"]
        assert _customer(session, "K-2008").name == "Mehrzeilig\nName"


def test_mapping_german_headers_and_semicolons(db) -> None:
    mapping = parse_mapping(["customer_ref=Kundennummer", "name=Kundenname,email=E-Mail"], imports.CUSTOMER_COLUMNS)
    mapping |= parse_mapping(["phone=Telefon", "company=Firma"], imports.CUSTOMER_COLUMNS)
    with db.write() as session:
        report = import_customers(session, _read("customers_de.csv"), mapping=mapping)
    assert (report.created, report.rejected) == (2, [])
    with db.read() as session:
        heinz = _customer(session, "K-3001")
        assert (heinz.name, heinz.company) == ("Müller, Heinz", "Heinz AG")
        assert session.exec(select(Identity.handle).where(Identity.platform == "reddit")).one() == "heinz_r"
        assert _customer(session, "K-3002").name == "Özlem Yılmaz"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["name"], "use FIELD=HEADER"),
        (["vorname=Vorname"], "unknown field 'vorname'"),
        (["name="], "the header after '=' is empty"),
    ],
)
def test_bad_mapping_is_a_usage_error(items: list[str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_mapping(items, imports.CUSTOMER_COLUMNS)


def test_file_level_problems_name_the_file_and_line(db) -> None:
    with db.write() as session:
        with pytest.raises(ImportFileError, match=r"latin1.csv: line 2: not UTF-8 \(byte 0xfc\)"):
            import_customers(session, _read("customers_latin1.csv"), name="latin1.csv")
        with pytest.raises(ImportFileError, match="line 1: missing column.s. customer_ref .found: Kundennummer"):
            import_customers(session, _read("customers_de.csv"), name="de.csv")
        with pytest.raises(ImportFileError, match="no column 'Nummer' for --map customer_ref=Nummer"):
            import_customers(session, _read("customers_de.csv"), name="de.csv", mapping={"customer_ref": "Nummer"})
        with pytest.raises(ImportFileError, match="the file is empty"):
            import_customers(session, b"\xef\xbb\xbf", name="empty.csv")
        assert session.exec(select(func.count()).select_from(Customer)).one() == 0


def test_reimport_updates_instead_of_duplicating(db) -> None:
    with db.write() as session:
        import_customers(session, _read("customers.csv"))
    with db.write() as session:
        report = import_customers(session, _read("customers_update.csv"))
        again = import_customers(session, _read("customers.csv"))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert (again.created, again.updated, again.unchanged) == (0, 1, 2)  # name and segment revert
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(Customer)).one() == 3
        anna = _customer(session, "K-1001")
        assert (anna.name, anna.segment, anna.tags, anna.consent_marketing) == (
            "Anna Schmidt",
            "premium",
            ["newsletter", "beta"],
            True,
        )
        emails = sorted(
            session.exec(
                select(ContactPoint.value).where(ContactPoint.customer_id == anna.id, ContactPoint.kind == "email")
            ).all()
        )
        assert emails == ["anna.neu@example.de", "anna@example.de"]
        assert _customer(session, "K-1002").segment == "b2c"  # empty cells never erase


def test_duplicates_become_merge_candidates_never_merges(db) -> None:
    with db.write() as session:
        report = import_customers(session, _read("customers_dupes.csv"))
    reasons = sorted(c.reason for c in report.merge_candidates)
    assert reasons == [
        "same e-mail lena@example.de",
        "same name and company (lena lang / lang kg)",
        "same phone 709999999",
    ]
    with db.read() as session:
        assert (
            session.exec(select(func.count()).select_from(Customer).where(Customer.merged_into_id.is_not(None))).one()
            == 0
        )  # type: ignore[union-attr]
    with db.write() as session:
        assert import_customers(session, _read("customers_dupes.csv")).merge_candidates == []  # listed once
        assert session.exec(select(func.count()).select_from(MergeCandidate)).one() == 3


def test_import_claims_a_prospects_handle_and_its_mentions(db) -> None:
    cfg = f.config()
    rules = f.ruleset(cfg)
    with db.write() as session:
        post = f.mention(session, "Hallo", author="anna_s", source_type="reddit")
        f.process(session, post, cfg, rules)
        assert session.get(Customer, post.customer_id).is_prospect
    with db.write() as session:
        report = import_customers(session, _read("customers.csv"))
    assert report.notes == ["line 2: reddit author 'anna_s' was a prospect; now customer K-1001"]
    with db.read() as session:
        assert session.get(Mention, post.id).customer_id == _customer(session, "K-1001").id


def test_handle_of_another_customer_is_rejected_not_moved(db) -> None:
    with db.write() as session:
        import_customers(session, _read("customers.csv"))
        report = import_customers(session, b"customer_ref,name,reddit\nK-9,Other,anna_s\nK-10,Fine,fine\n")
    assert [(e.line, e.reason) for e in report.rejected] == [
        (2, "reddit handle 'anna_s' already belongs to customer K-1001")
    ]
    with db.read() as session:
        assert session.exec(select(Customer).where(Customer.customer_ref == "K-9")).first() is None
        assert _customer(session, "K-10").name == "Fine"


def test_orders_line_items_dates_and_rejections(db) -> None:
    with db.write() as session:
        import_customers(session, _read("customers.csv"))
        report = import_orders(session, _read("orders.csv"))
    problems = {e.line: e.reason for e in report.rejected}
    assert problems == {
        5: "unknown customer_ref 'K-9999' (import customers first)",
        6: "date 'yesterday' is not a date (use 2026-03-01 or 01.03.2026)",
        7: "order_number is empty",
        8: "order A-12345 belongs to K-1001 on line 2, not K-1002",
    }
    assert report.created == 3
    with db.read() as session:
        orders = {o.order_number: o for o in session.exec(select(Order))}
        assert orders["A-12345"].products == ["Wasserkocher", "Entkalker"]
        assert orders["700123"].products == ["Toaster", "Brotmesser"]
        assert orders["700123"].ordered_at.isoformat() == "2026-03-01T00:00:00+00:00"
        assert orders["C-77"].ordered_at.isoformat() == "2026-02-28T13:30:00+00:00"
    with db.write() as session:
        again = import_orders(session, _read("orders.csv"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
