"""Issue 11 item 13: after ``socialcrm privacy erase`` a dump of the whole database holds none of her identifiers.

Real parts: a real SQLite file and a real PostgreSQL database, filled through the services a
deployment uses (rules that open a ticket, draft a reply naming her and her order, and send a
webhook quoting her post; a confirmed link; a merge; a company change; a rejected draft whose
reason names her), plus somebody else's post quoting her e-mail address and phone number. Then
the real CLI erases her, and the whole database is dumped (``sqlite3`` iterdump; ``pg_dump``) and
searched for every identifier. The first release left them in webhook payloads, audit details,
decision explanations and the other customer's post.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url
from sqlmodel import select

from socialcrm.backup import find_pg_tool
from socialcrm.db import Database
from socialcrm.models import Customer, LinkSuggestion, Mention, ReplyDraft
from socialcrm.services import customers, drafts, links, merges
from socialcrm.services.erasure_sweep import PersonTraces, Redactor, find_copies
from socialcrm.services.privacy import export_person
from tests.rules import factories as f

EMAIL = "jana.fischer@example.de"
PHONE_DIGITS = "8642097"  # the last digits of +49 170 8642097, in whatever spelling
IDENTIFIERS = (EMAIL, "Jana Fischer", PHONE_DIGITS, "janafischer", "jana_f_social", "SO-771931", "seit Wochen")
ORDER = "{%% if order_numbers %%} %s {{ order_numbers[0] }}.{%% endif %%}"
RULES = f"""
[[rules]]
name = "complaint"
[rules.when]
sentiment = ["negative"]
[[rules.then]]
action = "open_ticket"
team = "service"
[[rules.then]]
action = "notify"
webhook = "service-chat"
message = "Complaint"
[[rules.then]]
action = "draft_reply"
template = "sorry"

[templates.sorry]
de = "Hallo {{{{ customer_name }}}}, das tut uns leid.{ORDER % "Bestellung"}"
en = "Hi {{{{ customer_name }}}}, sorry.{ORDER % "Order"}"

[[webhooks]]
name = "service-chat"
url = "https://chat.example/hook"
"""


def seed(db: Database) -> None:
    cfg = f.config(RULES)
    rules = f.ruleset(cfg)
    with db.write() as session:
        jana = f.customer(
            session, "K-1", "Jana Fischer", email=EMAIL, phone="+49 170 8642097", handles={"feed": "janafischer"}
        )
        assert jana.id is not None
        f.order(session, "SO-771931", jana.id, ["Barista 3000"])
        tom = f.customer(session, "K-2", "Tom Weber", email="tom@example.de", handles={"feed": "tomw"})
        twin = f.customer(session, "K-3", "Jana Fischer", email="jana@privat.example")
        customers.update_customer(session, jana.id, actor="cm", company="Fischer Feinkost")
        merges.merge_customers(session, jana.id, twin.id, actor="cm")  # type: ignore[arg-type]
        her_post = f.mention(
            session,
            "Meine Lieferung ist seit Wochen überfällig, schreibt mir an " + EMAIL,
            author="janafischer",
            author_name="Jana Fischer",
            sentiment="negative",
            language="de",
            thread="t1",
        )
        f.process(session, her_post, cfg, rules)
        toot = f.mention(session, "Lieferung klappt nicht", author="jana_f_social", source_type="mastodon")
        session.add(LinkSuggestion(mention_id=toot.id, customer_id=jana.id, method="name", confidence=0.6))  # type: ignore[arg-type]
        session.flush()
        suggestion = session.exec(select(LinkSuggestion).where(LinkSuggestion.mention_id == toot.id)).one()
        links.confirm(session, suggestion.id, actor="cm")  # type: ignore[arg-type]
        others = f.mention(
            session,
            f"Meine Nachbarin ist genauso sauer, fragt sie: {EMAIL} oder 0170 / 864 2097.",
            author="tomw",
            sentiment="negative",
            language="de",
            thread="t2",
        )
        f.process(session, others, cfg, rules)
        assert tom.id is not None
        draft = session.exec(select(ReplyDraft).where(ReplyDraft.mention_id == her_post.id)).one()
        assert "Jana Fischer" in draft.text and "SO-771931" in draft.text
        drafts.reject(session, draft.id, user="cm", reason="Jana Fischer wants a call on +49 170 8642097")  # type: ignore[arg-type]


def dump(url: str) -> str:
    if url.startswith("sqlite"):
        connection = sqlite3.connect(make_url(url).database or "")
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    done = subprocess.run(
        [find_pg_tool("pg_dump"), "--no-owner", f"--dbname={libpq}"], capture_output=True, text=True, check=True
    )
    return done.stdout


async def run_cli(tmp_path: Path, url: str, *args: str) -> str:
    (tmp_path / "socialcrm.toml").write_text(f'[database]\nurl = "{url}"\n[web]\nenabled = false\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socialcrm",
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def found_in(text: str) -> list[str]:
    lowered = text.lower()
    return [i for i in IDENTIFIERS if i.lower() in lowered]


async def test_dump_after_erase_holds_none_of_her_identifiers(db: Database, database_url: str, tmp_path: Path) -> None:
    seed(db)
    before = dump(database_url)
    # Every identifier really is in the database before, in the places the issue names.
    assert found_in(before) == list(IDENTIFIERS)
    with db.write() as session:
        document = export_person(session, "K-1", actor="dpo")
    exported = json.dumps(document, default=str)
    assert found_in(exported) == list(IDENTIFIERS)  # the export holds everything erase removes
    kinds = {(c["table"], c["column"]) for c in document["copies"]}
    assert ("outboxitem", "payload") in kinds and ("mention", "text") in kinds and ("auditentry", "detail") in kinds
    quoted = [c for c in document["copies"] if c["table"] == "mention" and any("2097" in h for h in c["holds"])]
    other_post = quoted[0]
    assert EMAIL in other_post["holds"] and "0170 / 864 2097" in other_post["holds"]
    assert "Nachbarin" not in json.dumps(other_post)  # somebody else's words are not exported to her
    db.dispose()

    out = await run_cli(tmp_path, database_url, "privacy", "erase", "K-1", "--yes")
    assert out.startswith("Erased 2 customers")

    after = dump(database_url)
    assert found_in(after) == []
    # Somebody else's post stays, with her contact points cut out; the statistics stay.
    check = Database(database_url)
    with check.read() as session:
        others = session.exec(select(Mention).where(Mention.author == "tomw")).one()
        assert others.text.startswith("Meine Nachbarin ist genauso sauer") and "[erased]" in others.text
        assert session.exec(select(Customer).where(Customer.customer_ref == "K-2")).one().name == "Tom Weber"
        assert session.exec(select(Mention).where(Mention.erased_at.is_not(None))).all()  # type: ignore[union-attr]
    check.dispose()


def test_a_person_with_many_posts_is_searched_in_bounded_queries(db: Database) -> None:
    """600 long posts make 600 search patterns per column: more ORs than SQLite parses in one query."""
    traces = PersonTraces(emails={EMAIL})
    for n in range(600):
        traces.add_text(f"Beitrag Nummer {n:04d} über die Lieferung, die nie ankam")
    with db.write() as session:
        f.mention(session, "Zitat: Beitrag Nummer 0599 über die Lieferung, die nie ankam. Schade.", author="tomw")
        copies = find_copies(session, Redactor(traces))
    assert [(c.table, c.column) for c in copies] == [("mention", "text")]


@pytest.mark.parametrize("spelling", ["0170 864 20 97", "0170-8642-097", "+49 (0)170 86 420/97", "0170.864.209.7"])
def test_her_phone_is_found_however_the_last_digits_are_grouped(db: Database, spelling: str) -> None:
    """Somebody quotes her number with a separator inside its last four digits: the search still finds it."""
    traces = PersonTraces()
    traces.add_phone("+49 170 8642097")
    with db.write() as session:
        f.mention(session, f"Ruf sie an: {spelling}, sie wartet.", author="tomw")
        f.mention(session, "Ruf mich an: 0170 864 20 98, ich warte.", author="otto")  # someone else's number
        redactor = Redactor(traces)
        copies = find_copies(session, redactor)
    assert [(c.table, c.column) for c in copies] == [("mention", "text")]
    assert redactor.text(f"Ruf sie an: {spelling}, sie wartet.") == "Ruf sie an: [erased], sie wartet."
