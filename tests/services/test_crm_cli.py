"""The CRM commands as a user runs them: imports, merges, link review, rules explain and test, export."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from socialcrm.cli import main
from socialcrm.db import Database
from socialcrm.models import Decision, LinkSuggestion, Mention, ReplyDraft, Ticket
from tests.rules import factories as f

DATA = Path(__file__).resolve().parent.parent / "data" / "crm"


@pytest.fixture
def cli(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "socialcrm.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n' + f.DEMO_RULES, encoding="utf-8")

    def run(*args: str) -> int:
        return main(["--config", str(config), *args])

    return run


def test_customer_and_order_imports(cli, capsys, database_url: str) -> None:
    assert cli("customers", "import", str(DATA / "customers_broken.csv")) == 1
    out, err = capsys.readouterr()
    assert "customers: imported 3 (3 new, 0 updated, 0 unchanged), rejected 7" in out
    assert "customers_broken.csv: line 4: rejected: email 'not-an-email' is not an e-mail address" in err
    assert cli("customers", "import", str(DATA / "customers.csv")) == 0
    assert (
        cli(
            "customers",
            "import",
            str(DATA / "customers_de.csv"),
            "--map",
            "customer_ref=Kundennummer",
            "--map",
            "name=Kundenname,email=E-Mail,phone=Telefon,company=Firma",
            "--delimiter",
            ";",
        )
        == 0
    )
    assert "imported 2 (2 new" in capsys.readouterr().out
    assert cli("customers", "import", str(DATA / "customers_latin1.csv")) == 2
    assert "line 2: not UTF-8" in capsys.readouterr().err
    assert cli("customers", "import", str(DATA / "customers.csv"), "--map", "vorname=Vorname") == 2
    assert "unknown field 'vorname'" in capsys.readouterr().err
    assert cli("customers", "import", str(DATA / "missing.csv")) == 2
    assert "missing.csv: cannot read" in capsys.readouterr().err
    assert cli("orders", "import", str(DATA / "orders.csv")) == 1
    out, err = capsys.readouterr()
    assert "orders: imported 3 (3 new" in out and "line 5: rejected: unknown customer_ref 'K-9999'" in err
    assert cli("customers", "import", "--dry-run", str(DATA / "customers_update.csv")) == 0
    assert "would import 2" in capsys.readouterr().out
    db = Database(database_url)
    with db.read() as session:
        from socialcrm.services.customers import find_by_ref

        assert find_by_ref(session, "K-1001").name == "Anna Schmidt"  # the dry run stored nothing
    db.dispose()


def test_merge_candidates_and_merge(cli, capsys) -> None:
    assert cli("customers", "import", str(DATA / "customers_dupes.csv")) == 0
    out = capsys.readouterr().out
    assert out.count("possible duplicate") == 3
    assert cli("customers", "merge-candidates") == 0
    out = capsys.readouterr().out
    assert "K-5001 (Lena Lang) ~ K-5002 (L. Lang): same e-mail lena@example.de" in out
    assert "socialcrm customers merge K-5001 K-5002" in out
    assert cli("customers", "merge", "K-5001", "K-5002") == 0
    assert "merged K-5002 into K-5001" in capsys.readouterr().out
    assert cli("customers", "merge", "K-5001", "K-0000") == 1
    assert "no customer with customer_ref 'K-0000'" in capsys.readouterr().err
    assert cli("customers", "dismiss", "3") == 0
    assert cli("customers", "merge-candidates", "--no-detect") == 0
    assert "candidate 2:" in capsys.readouterr().out


def _mentions(database_url: str) -> dict[str, int]:
    cfg = f.config()
    rules = f.ruleset(cfg)
    db = Database(database_url)
    with db.write() as session:
        f.customer(session, "K-7", "Paula", email="paula@example.de", handles={"feed": "paula"})
        complaint = f.mention(
            session,
            "Meine Lieferung ist überfällig!",
            author="paula",
            sentiment="negative",
            language="de",
            published_at=f.NOW - timedelta(days=2),
        )
        f.process(session, complaint, cfg, rules)
        praise = f.mention(
            session,
            "Super Service, danke!",
            author="paula",
            sentiment="positive",
            language="de",
            published_at=f.NOW - timedelta(days=1),
        )
        f.process(session, praise, cfg, rules)
        stranger = f.mention(session, "Bin ich paula@example.de? How so?", author="someone_else", published_at=f.NOW)
        f.process(session, stranger, cfg, rules)
        ids = {"complaint": complaint.id, "praise": praise.id, "stranger": stranger.id}
    db.dispose()
    return ids  # type: ignore[return-value]


def test_rules_explain_says_why_and_why_not(cli, capsys, database_url: str) -> None:
    ids = _mentions(database_url)
    assert cli("rules", "explain", str(ids["complaint"])) == 0
    out = capsys.readouterr().out
    assert "rule 'complaint-ticket': FIRED" in out
    assert (
        'ok   query: expected (lieferung OR versand OR delivery OR "never arrived") AND NOT gewinnspiel; '
        "found [lieferung]" in out
    )
    assert "ok   customer: expected linked; found customer_ref=K-7, state=linked" in out
    assert "-> open_ticket priority=high, team=service, ticket_id=1: opened" in out
    assert "rule 'question-reply': did not fire" in out
    assert cli("rules", "explain", str(ids["praise"])) == 0
    out = capsys.readouterr().out
    assert "FAIL sentiment: expected [negative]; found positive" in out
    db = Database(database_url)
    with db.write() as session:  # stored before any rules ran: explained with the current rules
        unprocessed = f.mention(session, "Versand kaputt", author="paula", sentiment="negative", language="de").id
    db.dispose()
    assert cli("rules", "explain", str(unprocessed)) == 0
    out = capsys.readouterr().out
    assert "no decisions were stored for this mention; this is what the CURRENT rules would decide:" in out
    assert "FAIL customer: expected linked; found state=unknown" in out
    assert cli("rules", "explain", "9999") == 1
    assert "no mention with id 9999" in capsys.readouterr().err


def test_rules_test_replays_without_acting(cli, capsys, database_url: str, tmp_path: Path) -> None:
    _mentions(database_url)
    db = Database(database_url)

    def counts() -> tuple[int, ...]:
        with db.read() as session:
            return tuple(
                session.exec(select(func.count()).select_from(m)).one() for m in (Ticket, ReplyDraft, Decision)
            )

    before = counts()
    # a stricter rule set in a second config: what would change before switching it on
    strict = tmp_path / "strict.toml"
    strict.write_text(
        f'[database]\nurl = "{database_url}"\n'
        + f.DEMO_RULES.replace('customer = "linked"', 'customer = "any"').replace(
            "wie OR wann", "wie OR wann OR danke"
        ),
        encoding="utf-8",
    )
    assert (
        main(
            [
                "--config",
                str(strict),
                "rules",
                "test",
                "--since",
                (f.NOW - timedelta(days=1)).date().isoformat(),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2 mention(s) replayed; 2 would lead to actions; nothing was changed" in out
    assert "would draft_reply(template=question)  [rule question-reply]" in out
    assert "rule complaint-ticket: fires on 0" in out and "rule question-reply: fires on 2" in out
    assert cli("rules", "test") == 0
    assert "3 mention(s) replayed" in capsys.readouterr().out
    assert counts() == before
    db.dispose()


def test_links_review_confirm_reject(cli, capsys, database_url: str) -> None:
    ids = _mentions(database_url)
    assert cli("links", "review") == 0
    out = capsys.readouterr().out
    assert "feed author 'someone_else' (mention" in out and "-> customer K-7 (Paula) by email, confidence 0.90" in out
    db = Database(database_url)
    with db.read() as session:
        suggestion_id = session.exec(select(LinkSuggestion.id)).one()
    assert cli("links", "reject", str(suggestion_id)) == 0
    assert f"suggestion {suggestion_id}: rejected" in capsys.readouterr().out
    assert cli("links", "confirm", str(suggestion_id)) == 1
    assert "already rejected" in capsys.readouterr().err
    with db.read() as session:
        assert session.get(Mention, ids["stranger"]).link_method == "prospect"
    db.dispose()
    assert cli("links", "review") == 0
    assert "nothing to review" in capsys.readouterr().out


def test_export_customers_csv_carries_customer_ref(cli, capsys) -> None:
    assert cli("customers", "import", str(DATA / "customers.csv")) == 0
    capsys.readouterr()
    assert cli("export", "customers", "--format", "csv") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("customer_ref,name,company,segment,tags,emails")
    assert lines[1].startswith('K-1001,Anna Schmidt,Schmidt GmbH,premium,[],"[""anna@example.de""]"')


def test_merge_candidates_names_a_key_too_common_to_pair(cli, capsys, database_url: str) -> None:
    """info@ held by many customers would make hundreds of pairs nobody can review (1,000 holders: 499,500)."""
    from socialcrm.services.merges import GROUP_LIMIT

    db = Database(database_url)
    with db.write() as session:
        ids = [f.customer(session, f"K-{n}", f"Person {n}", email="info@example.de").id for n in range(GROUP_LIMIT + 1)]
        f.customer(session, "K-x", "Lena Lang", email="info@example.de", phone="+49 171 2223334")
        f.customer(session, "K-y", "L. Lang", phone="0171 2223334")
        f.customer(session, "K-z", "Lina Lang", email="info@example.de", phone="0171 2223334")
    db.dispose()
    assert cli("customers", "merge-candidates") == 0
    out = capsys.readouterr().out
    assert f"same e-mail info@example.de: {GROUP_LIMIT + 3} customers; not listed as merge candidates" in out
    assert "found 3 new candidate(s)" in out  # the shared phone still pairs K-x, K-y and K-z
    assert "K-x (Lena Lang) ~ K-y (L. Lang): same phone 712223334" in out
    assert "K-x (Lena Lang) ~ K-z (Lina Lang): same phone 712223334" in out
    assert "K-0 (Person 0) ~ K-1 (Person 1)" not in out and len(ids) == GROUP_LIMIT + 1
