"""The XSS payloads of tests/web/data/xss stored everywhere a post's content can show up."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from socialcrm.db import Database
from socialcrm.models import Decision
from socialcrm.services import customers, drafts, tickets
from tests.web.seed import add_customer, add_mention

DATA = Path(__file__).parent / "data" / "xss"


def payloads() -> list[str]:
    lines: list[str] = []
    for name in ("XSS_Polyglots.txt", "xss_payloads_quick.txt"):
        text = (DATA / name).read_text(encoding="utf-8", errors="replace")
        lines.extend(line for line in text.splitlines() if line.strip())
    lines.append((DATA / "SVG_XSS1.svg").read_text(encoding="utf-8", errors="replace"))
    return lines


@dataclass
class HostileWorld:
    customer_id: int
    ticket_id: int
    draft_ids: list[int]
    count: int
    mention_ids: list[int]


def store_hostile(db: Database) -> HostileWorld:
    """Each payload becomes a mention (text, title, author, URLs), a pending draft, a ticket note and names."""
    items = payloads()
    with db.write() as s:
        customer = add_customer(s, name=items[0][:200], company=items[1][:200], tags=[items[2][:60]])
        assert customer.id is not None
        customers.add_note(s, customer.id, items[3], actor="test")
        ticket = tickets.open_ticket(s, subject=items[4], customer_id=customer.id, thread_key="xss:thread")
        assert ticket.id is not None
        draft_ids = []
        mention_ids = []
        for index, payload in enumerate(items):
            mention = add_mention(
                s,
                payload,
                title=payload[:300],
                author=payload[:200],
                customer=customer,
                url=payload[:2000],
                thread_id="xss-thread",
                group=payload[:60],
                tags=[payload[:60]],
            )
            mention.author_url = payload[:1000]
            s.add(mention)
            s.add(
                Decision(
                    mention_id=mention.id,
                    rule="xss-rule",
                    fired=True,
                    explanation={
                        "conditions": [{"condition": "query", "matched": True, "expected": payload, "actual": payload}],
                    },
                )
            )
            tickets.attach_mention(s, ticket, mention.id)  # type: ignore[arg-type]
            tickets.add_note(s, ticket.id, payload, actor="test")
            draft = drafts.create_draft(s, mention=mention, text=payload, language="en", rule="xss-rule")
            assert draft.id is not None
            draft_ids.append(draft.id)
            mention_ids.append(mention.id)  # type: ignore[arg-type]
            if index % 5 == 0:
                s.flush()
        return HostileWorld(customer.id, ticket.id, draft_ids, len(items), mention_ids)


class ActiveContentFinder(HTMLParser):
    """Collects everything in a page that could run script: script tags, on* handlers, script URLs."""

    DANGEROUS_TAGS = {"iframe", "object", "embed", "base", "frame", "frameset", "applet", "math", "portal"}
    URL_ATTRIBUTES = {
        "href",
        "src",
        "action",
        "formaction",
        "xlink:href",
        "data",
        "srcdoc",
        "background",
        "poster",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src") != "/static/app.js":
            self.problems.append(f"<script {attrs}>")
        if tag in self.DANGEROUS_TAGS:
            self.problems.append(f"<{tag}>")
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.problems.append("<meta refresh>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in self.URL_ATTRIBUTES and value:
                scheme = value.strip().lower().replace("\t", "").replace("\n", "").split(":", 1)[0]
                if ":" in value and scheme in ("javascript", "vbscript", "data", "livescript"):
                    self.problems.append(f"<{tag} {name}={value[:40]!r}>")
            if name == "style":
                self.problems.append(f"<{tag} style=...>")

    handle_startendtag = handle_starttag


def active_content(html: str) -> list[str]:
    finder = ActiveContentFinder()
    finder.feed(html)
    finder.close()
    return finder.problems
