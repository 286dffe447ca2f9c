"""Measurements of bench/bench_ingest.py: one timed poll through the daemon's path, and its limits.

Each function measures one thing once (a poll of every feed, feedparser alone, a bare SQLite insert,
the classifier alone); bench_ingest.py repeats them in rounds (bench/rounds.py) and prints the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.proc_cpu import children, children_cpu
from socialcrm.db import Database
from tests.feeds import RULES, feed_url

BATCH_SIZE = 64  # [classifier] batch_size of the bench's config, and of the classifier-alone runs


@dataclass
class Pass:
    """One timed poll of every feed."""

    seconds: float
    new: int
    errors: int
    statements: int
    cpu: float  # CPU seconds of this process (all its threads; not the feed parsers' or PostgreSQL's)
    opened: float = 0.0  # seconds Runtime.open took before the timed poll (it starts the feed parser processes)
    parsers_cpu: float = 0.0  # CPU seconds of the feed parser processes the runtime started, during the poll

    @property
    def rate(self) -> float:
        """New mentions per second."""
        return self.new / self.seconds if self.seconds else 0.0

    @property
    def per_mention(self) -> float:
        """SQL statements per new mention."""
        return self.statements / self.new if self.new else 0.0


@contextlib.contextmanager
def counting_statements() -> Iterator[list[int]]:
    """Count every SQL statement any engine of this process sends while the block runs."""
    counter = [0]

    def count(*_args: Any) -> None:
        counter[0] += 1

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def write_config(folder: Path, db: Database, feeds: int, port: int, classifier: str, rules: str = RULES) -> Path:
    """A config with one feed source per served feed and ``rules``."""
    lines = [
        "[database]",
        f'url = "{db.url}"',
        "[web]",
        "enabled = false",
        "[classifier]",
        f'kind = "{classifier}"',
        f"batch_size = {BATCH_SIZE}",
        "[daemon]",
        "max_pages_per_poll = 1",
    ]
    for i in range(feeds):
        lines += ["[[sources]]", f'name = "feed-{i:04d}"', 'type = "feed"', f'url = "{feed_url(i, port)}"']
        lines.append('interval = "1h"')
    path = folder / "bench.toml"
    path.write_text("\n".join(lines) + "\n" + rules)
    return path


async def poll_pass(config_path: Path, db: Database, classifier: Any = None) -> Pass:
    """Poll every source once through the daemon's path; time it and count its statements."""
    from socialcrm.config import load_config
    from socialcrm.runtime import Runtime, keep_startup_objects_out_of_gc

    config = load_config(config_path)
    there_before = set(children(os.getpid()))  # the bench's feed server: its CPU is not the pipeline's
    # As the daemon opens it: the feed parser processes start with the runtime, not inside the first poll.
    opening = time.perf_counter()
    runtime = await Runtime.open(config, db=db, classifier=classifier, start_shared=True)
    opened = time.perf_counter() - opening
    keep_startup_objects_out_of_gc()  # as the daemon and ``socialcrm poll`` do after opening
    try:
        with counting_statements() as statements:
            start, cpu, parsers = time.perf_counter(), time.process_time(), children_cpu(there_before)
            results = await runtime.poll_once(force=True)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            parsers = children_cpu(there_before) - parsers
    finally:
        await runtime.close()  # the database stays usable: a disposed engine opens new connections
    errors = sum(1 for r in results if r.error)
    return Pass(elapsed, sum(r.new for r in results), errors, statements[0], cpu, opened, parsers)


def stored_rows(db: Database) -> list[dict[str, Any]]:
    """Every stored mention as its row (without the id), in id order."""
    from sqlmodel import col, select

    from socialcrm.models import Mention, table_of

    columns = [c.key for c in table_of(Mention).columns if c.key != "id"]
    with db.read() as session:
        mentions = session.exec(select(Mention).order_by(col(Mention.id))).all()
        return [{name: getattr(m, name) for name in columns} for m in mentions]


def bare_insert_rate(rows: Sequence[dict[str, Any]], per_transaction: int) -> float:
    """Rows per second for a plain insert of ``rows`` into an SQLite mention table, one transaction per feed."""
    from sqlalchemy import create_engine

    from socialcrm.models import Mention, table_of

    table = table_of(Mention)
    with tempfile.TemporaryDirectory(prefix="socialcrm-bench.") as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'bare.db'}")

        @event.listens_for(engine, "connect")
        def _wal(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

        table.metadata.create_all(engine, tables=[table])
        start = time.perf_counter()
        for first in range(0, len(rows), per_transaction):
            with engine.begin() as connection:
                connection.execute(table.insert(), list(rows[first : first + per_transaction]))
        elapsed = time.perf_counter() - start
        engine.dispose()
    return len(rows) / elapsed if elapsed else 0.0


def feedparser_rate(bodies: Sequence[bytes]) -> float:
    """Entries per second for ``parse_feed`` on ``bodies`` in this one process (the pipeline's parser, alone)."""
    from connectors.feed_parse import parse_feed

    start, entries = time.perf_counter(), 0
    for body in bodies:
        entries += len(parse_feed(body, "application/rss+xml", 1000)["entries"])
    elapsed = time.perf_counter() - start
    return entries / elapsed if elapsed else 0.0


@dataclass
class Alone:
    """The classifier alone on the stored texts: texts per second, and this process's CPU seconds."""

    rate: float
    cpu: float


def classifier_alone(classifier: Any, rows: Sequence[dict[str, Any]], per_batch: int) -> Alone:
    """The classifier alone on the stored texts, run exactly as the pipeline runs it.

    Same texts (title and body as stored), same chunks (a feed's page at a time), same
    ``Classification`` with the daemon's batch size, on the classifier's own threads
    (``Classification.analyse``: its lanes, see socialcrm/classifying.py). Every page is handed over
    at once, so no lane ever waits for the next page; the pipeline has up to 48 pages in flight.
    Measured on the calling thread instead, the default classifier took about three times the CPU
    (torch's threads behave differently there), which made the pipeline look faster than its own
    classifier.
    """
    from socialcrm.classifying import Classification

    texts = [f"{r['title']}\n{r['text']}" if r["title"] else r["text"] for r in rows]
    classification = Classification(classifier, batch_size=BATCH_SIZE)

    async def run() -> None:
        pages = [texts[first : first + per_batch] for first in range(0, len(texts), per_batch)]
        await asyncio.gather(*(classification.analyse(page, [None] * len(page)) for page in pages))

    start, cpu = time.perf_counter(), time.process_time()
    try:
        asyncio.run(run())
    finally:
        classification.close()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Alone(len(texts) / elapsed if elapsed else 0.0, cpu)


def warm_up(classifier: Any, texts: Sequence[str]) -> None:
    """Classify a few texts once, so neither measurement pays the model's first-call costs."""
    from socialcrm.classifying import Classification

    classification = Classification(classifier, batch_size=BATCH_SIZE)
    try:
        asyncio.run(classification.analyse(list(texts), [None] * len(texts)))
    finally:
        classification.close()


def build(kind: str) -> Any:
    """The classifier ``kind`` as the daemon builds it."""
    from classifiers.loader import build_classifier

    return build_classifier(kind, {"fallback": False})
