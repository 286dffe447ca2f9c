"""Benchmark: the web pages people wait for, with 100,000 mentions, 10,000 tickets and 5,000 customers stored.

Renders the reply queue, the ticket list, a customer's 360-degree view and the marketing dashboard
(last 30 days, and a whole year), and scrapes /metrics (its figures read from the database), through
the real app over HTTP on 127.0.0.1, and prints the median and 95th percentile of each, and the
first request (cold), and the CPU time per request. The target is a median under 150 ms.

    .venv/bin/python bench/bench_web.py [--mentions 100000] [--tickets 10000] [--customers 5000] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from socialcrm.config import parse_config  # noqa: E402
from socialcrm.db import Database  # noqa: E402
from socialcrm.models import (  # noqa: E402
    Customer,
    Decision,
    Identity,
    Mention,
    Order,
    ReplyDraft,
    Ticket,
    TicketMention,
    TicketNote,
)
from socialcrm.services import users  # noqa: E402
from socialcrm.web.app import create_app  # noqa: E402

SOURCES = [
    ("acme-blog", "feed", "brand"),
    ("r-acme", "reddit", "brand"),
    ("masto", "mastodon", "brand"),
    ("forum", "discourse", "brand"),
    ("hn", "hackernews", "competitor"),
    ("r-rival", "reddit", "competitor"),
    ("rival-blog", "feed", "competitor"),
    ("bsky", "bluesky", "brand"),
]
TEXTS = [
    "Meine Lieferung ist seit Tagen überfällig, sehr ärgerlich. Bestellung {n}.",
    "Wie kann ich die Maschine entkalken? Danke für Tipps.",
    "Toller Service, schnelle Antwort, ich bin begeistert!",
    "The delivery never arrived and support does not answer. Disappointed.",
    "How do I reset the grinder settings? The manual is unclear.",
    "Great coffee, lovely crema, would recommend to anyone.",
]
SENTIMENTS = ["negative", "neutral", "positive", "negative", "neutral", "positive"]
TAGS = [[], [], [], ["spring-sale"], ["lead"], ["kündigung"], ["blog"]]
PASSWORD = "bench-password-1"


def populate(db: Database, mentions: int, tickets: int, customers: int) -> int:
    """Bulk-insert the data set; return the id of a customer with a typical history."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        conn.execute(
            insert(Customer),
            [
                {
                    "customer_ref": f"K-{i:06d}",
                    "name": f"Kunde {i}",
                    "company": None,
                    "segment": "retail",
                    "tags": [],
                    "consent_marketing": False,
                    "consent_contact": True,
                    "is_prospect": i % 5 == 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, customers + 1)
            ],
        )
        conn.execute(
            insert(Identity),
            [
                {"platform": "reddit", "handle": f"user{i}", "customer_id": i, "confirmed": True, "created_at": now}
                for i in range(1, customers + 1)
            ],
        )
        conn.execute(
            insert(Order),
            [
                {
                    "order_number": f"A-{i:07d}",
                    "customer_id": 1 + i % customers,
                    "ordered_at": now - timedelta(days=i % 400),
                    "products": ["Kaffeemaschine X1"],
                    "status": "shipped",
                    "updated_at": now,
                }
                for i in range(customers * 2)
            ],
        )
        rows = []
        for i in range(1, mentions + 1):
            source, kind, group = SOURCES[i % len(SOURCES)]
            k = rng.randrange(len(TEXTS))
            rows.append(
                {
                    "source": source,
                    "source_type": kind,
                    "external_id": f"e{i}",
                    "url": f"https://example.com/p/{i}",
                    "kind": "post",
                    "thread_id": f"t{i // 3}",
                    "author": f"user{i % customers}",
                    "author_name": None,
                    "title": None,
                    "text": TEXTS[k].format(n=i),
                    "truncated": False,
                    "language": "de" if k < 3 else "en",
                    "sentiment": SENTIMENTS[k],
                    "sentiment_score": 0.8,
                    "classifier": "bench",
                    "customer_id": 1 + i % customers if i % 3 else None,
                    "group": group,
                    "tags": TAGS[i % len(TAGS)],
                    "author_metrics": {},
                    "raw": None,
                    "published_at": now - timedelta(minutes=int(525_600 * (1 - i / mentions))),
                    "fetched_at": now,
                }
            )
        for start in range(0, len(rows), 20_000):
            conn.execute(insert(Mention), rows[start : start + 20_000])
        ticket_rows, links, notes = [], [], []
        for i in range(1, tickets + 1):
            created = now - timedelta(hours=i % 2000)
            status = ("new", "open", "pending", "resolved", "closed")[i % 5]
            ticket_rows.append(
                {
                    "status": status,
                    "priority": ("low", "normal", "high", "urgent")[i % 4],
                    "team": "service",
                    "assignee": None,
                    "rule": "complaint",
                    "subject": f"Beschwerde {i}",
                    "customer_id": 1 + i % customers,
                    "thread_key": f"t{i}",
                    "idempotency_key": f"k{i}",
                    "merged_into_id": None,
                    "created_at": created,
                    "updated_at": created,
                    "first_response_due": created + timedelta(hours=4),
                    "resolution_due": created + timedelta(days=2),
                    "first_response_at": created + timedelta(hours=1) if i % 3 else None,
                    "resolved_at": created + timedelta(hours=20) if status in ("resolved", "closed") else None,
                    "closed_at": None,
                }
            )
            links.append({"ticket_id": i, "mention_id": i * 7, "added_at": created})
            notes.append({"ticket_id": i, "author": "agent", "text": "Rückruf vereinbart", "created_at": created})
        conn.execute(insert(Ticket), ticket_rows)
        conn.execute(insert(TicketMention), links)
        conn.execute(insert(TicketNote), notes)
        drafts, decisions = [], []
        for i in range(1, 3001):
            mention_id = mentions - i * 11
            status = "pending" if i <= 1500 else ("sent", "rejected", "approved")[i % 3]
            created = now - timedelta(minutes=i * 7)
            drafts.append(
                {
                    "status": status,
                    "rule": "question-reply",
                    "template": "question",
                    "language": "de",
                    "text": "Hallo, danke für Ihre Frage! Wir melden uns.",
                    "original_text": "Hallo",
                    "mention_id": mention_id,
                    "customer_id": None,
                    "idempotency_key": f"d{i}",
                    "assignee": None,
                    "manual": False,
                    "version": 1,
                    "created_at": created,
                    "updated_at": created,
                    "sent_at": created + timedelta(minutes=30) if status == "sent" else None,
                }
            )
            decisions.append(
                {
                    "mention_id": mention_id,
                    "rule": "question-reply",
                    "position": 0,
                    "fired": True,
                    "explanation": {
                        "conditions": [
                            {"condition": "query", "matched": True, "expected": "wie OR how", "actual": "wie"}
                        ]
                    },
                    "actions": [],
                    "created_at": created,
                }
            )
        conn.execute(insert(ReplyDraft), drafts)
        conn.execute(insert(Decision), decisions)
    return 42


async def measure(
    db: Database, runs: int, customer_id: int
) -> tuple[dict[str, list[float]], dict[str, float], dict[str, float]]:
    config = parse_config(
        "\n".join(
            f'[[sources]]\nname = "{n}"\ntype = "feed"\nurl = "https://example.com/{n}.xml"\nenabled = false\n'
            for n, kind, _g in SOURCES
            if kind == "feed"
        )
    )
    client = TestClient(TestServer(create_app(config, db), host="127.0.0.1", port=0))
    await client.start_server()
    timings: dict[str, list[float]] = {}
    firsts: dict[str, float] = {}
    cpu: dict[str, float] = {}
    try:
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
        await client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
        pages = {
            "reply queue": "/queue",
            "ticket list": "/tickets",
            "customer view": f"/customers/{customer_id}",
            "dashboard (30 days)": "/dashboard",
            "dashboard (365 days)": "/dashboard?range=365",
            "metrics scrape": "/metrics",
        }
        for name, path in pages.items():
            for attempt in range(runs + 2):
                if attempt == 2:
                    cpu_started = time.process_time()
                started = time.perf_counter()
                response = await client.get(path)
                await response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status != 200:
                    raise SystemExit(f"{path}: HTTP {response.status}")
                if attempt == 0:
                    firsts[name] = elapsed
                if attempt >= 2:
                    timings.setdefault(name, []).append(elapsed)
            cpu[name] = (time.process_time() - cpu_started) * 1000 / runs
    finally:
        await client.close()
    return timings, firsts, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        with db.write() as s:
            users.create_user(s, "admin", "admin", PASSWORD, actor="bench")
        started = time.perf_counter()
        customer_id = populate(db, args.mentions, args.tickets, args.customers)
        print(
            f"stored {args.mentions:,} mentions, {args.tickets:,} tickets, {args.customers:,} customers, "
            f"3,000 drafts in {time.perf_counter() - started:.1f} s (SQLite)"
        )
        timings, firsts, cpu = asyncio.run(measure(db, args.runs, customer_id))
        db.dispose()
    print(
        f"{'page':24} {'median ms':>10} {'p95 ms':>8} {'first ms':>9} {'cpu ms':>7}"
        f"  (target: median < 150 ms, {args.runs} runs; load average {os.getloadavg()[0]:.2f})"
    )
    for name, values in timings.items():
        median = statistics.median(values)
        p95 = sorted(values)[int(len(values) * 0.95) - 1]
        verdict = "ok" if median < 150 else "SLOW"
        print(f"{name:24} {median:10.1f} {p95:8.1f} {firsts[name]:9.1f} {cpu[name]:7.1f}  {verdict}")
    print("first = the first request after the server started (the dashboard's day counts are built then, and")
    print("kept up to date incrementally after; see socialcrm/web/queries/rollup.py); cpu = this process's CPU")
    print("time per request (server, SQLite and client share the process), which other load barely changes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
