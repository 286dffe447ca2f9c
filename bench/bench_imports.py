"""Benchmark: CSV imports of 0, 10,000 and 100,000 generated customers and as many orders, SQLite and PostgreSQL.

For each size and database it imports the customers into an empty database (all new), then the
orders, then the same customer file again (a re-import: every row compared, none changed), through
the same service calls as `socialcrm customers import` / `orders import`, and prints seconds and rows
per second, and the CPU seconds spent (this process, plus the PostgreSQL backend when the server runs
on this machine): on a shared machine the wall time includes waiting for the CPU, the CPU time does
not. Targets (issue 16, 2 cores): 100,000 customers <= 20 s (>= 5,000 rows/s), 100,000
orders <= 10 s. The data come from bench/crm_data.py (German and English names with a long tail,
companies, e-mails, phones in German and international formats, 1% re-entered customers).

    .venv/bin/python bench/bench_imports.py [--sizes 0,10000,100000] [--quick] [--backends sqlite,postgres]
                                            [--postgres URL]

Without --postgres (or SOCIALCRM_BENCH_DATABASE_URL) a private PostgreSQL server is started and
stopped (bench/databases.py). The database setup (`prepare`) is meant to be reused by the ingest
half of the bench, which measures mentions per second at each of these sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.crm_data import Person, customers_csv, generate_orders, generate_people, orders_csv  # noqa: E402
from bench.databases import describe_server, fresh_database, postgres_server  # noqa: E402
from socialcrm.db import Database  # noqa: E402
from socialcrm.services.imports import ImportReport, import_customers, import_orders  # noqa: E402

DEFAULT_SIZES = (0, 10_000, 100_000)
TARGET_ROWS = 100_000  # issue 16's targets are for imports of this many rows
CUSTOMER_TARGET_S = 20.0
ORDER_TARGET_S = 10.0
QUICK_SIZES = (0, 1_000, 10_000)


@dataclass
class Timing:
    """One timed import: wall seconds, CPU seconds (this process; the PostgreSQL backend when local), rows."""

    seconds: float
    cpu: float
    server_cpu: float | None
    rows: int
    report: ImportReport

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds else 0.0


def _backend_cpu(pid: int | None) -> float | None:
    """CPU seconds used so far by a local PostgreSQL backend (None when it is not on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_import(db: Database, importer: object, data: bytes, name: str) -> Timing:
    """Run one import in one write transaction, as the CLI does, and time it (commit included)."""
    start, cpu = time.perf_counter(), time.process_time()
    with db.write() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar() if not db.is_sqlite else None
        server = _backend_cpu(pid)
        report = importer(session, data, name=name, actor="bench")  # type: ignore[operator]
        server_after = _backend_cpu(pid)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if report.rejected:
        raise SystemExit(f"{name}: {len(report.rejected)} rows rejected, first: {report.rejected[0]}")
    used = server_after - server if server is not None and server_after is not None else None
    return Timing(seconds, cpu, used, report.rows, report)


def prepare(db: Database, people: list[Person], orders: int) -> dict[str, Timing]:
    """Import ``people`` and ``orders`` of their orders into ``db``; the timings of each import."""
    if not people:
        return {}
    customers = customers_csv(people)
    lines = orders_csv(generate_orders(people, orders))
    return {
        "customers": timed_import(db, import_customers, customers, "customers.csv"),
        "orders": timed_import(db, import_orders, lines, "orders.csv"),
        "reimport": timed_import(db, import_customers, customers, "customers.csv"),
    }


def _cell(timing: Timing | None) -> str:
    if timing is None:
        return "-"
    return f"{timing.seconds:6.1f} s {timing.rate:9,.0f}/s"


def _cpu(timing: Timing | None) -> str:
    if timing is None:
        return "-"
    server = f"+{timing.server_cpu:.1f}" if timing.server_cpu is not None else ""
    return f"{timing.cpu:.1f}{server}"


def main(argv: list[str] | None = None) -> int:
    """Generate the customers, import them at each size on each database, and print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="customer counts, comma-separated (default 0,10000,100000)")
    parser.add_argument("--quick", action="store_true", help="sizes 0,1000,10000")
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite,postgres (default both)")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use (default: start one)")
    args = parser.parse_args(argv)
    sizes = (
        [int(s) for s in args.sizes.split(",")] if args.sizes else list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    )
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    started = time.perf_counter()
    everyone = generate_people(max(sizes))
    print(f"generated {len(everyone):,} customers in {time.perf_counter() - started:.1f} s", flush=True)
    header = f"{'database':10} {'customers':>9} {'customer import':>22} {'orders':>8} {'order rows':>10} "
    print(header + f"{'order import':>22} {'re-import':>22} {'candidates':>10}  cpu s (customers/orders/re-import)")
    servers = postgres_server(args.postgres) if "postgres" in backends else contextlib.nullcontext(None)
    with servers as server:
        if server is not None:
            print(f"postgres: {describe_server(server)}", flush=True)
        for backend in backends:
            if backend == "postgres" and server is None:
                print("postgres: skipped (no server: pass --postgres URL or install Debian's postgresql)")
                continue
            for size in sizes:
                with fresh_database(backend, server) as db:
                    timings = prepare(db, everyone[:size], size)
                customers, orders = timings.get("customers"), timings.get("orders")
                candidates = len(customers.report.merge_candidates) if customers else 0
                order_count = orders.report.imported if orders else 0
                print(
                    f"{backend:10} {size:9,} {_cell(customers):>22} {order_count:8,} "
                    f"{orders.rows if orders else 0:10,} {_cell(orders):>22} {_cell(timings.get('reimport')):>22} "
                    f"{candidates:10,}  {_cpu(customers)} / {_cpu(orders)} / {_cpu(timings.get('reimport'))}",
                    flush=True,
                )
                if size >= TARGET_ROWS and customers and orders:
                    print(
                        f"  {backend}: {_verdict('customers', customers.report.rows, customers, CUSTOMER_TARGET_S)}; "
                        f"{_verdict('orders', order_count, orders, ORDER_TARGET_S)}",
                        flush=True,
                    )
    return 0


def _verdict(what: str, count: int, timing: Timing, limit: float) -> str:
    """One import against its issue-16 target (measured at 100,000 rows)."""
    met = "met" if timing.seconds <= limit else "NOT met"
    return f"{count:,} {what} in {timing.seconds:.1f} s, target <= {limit:.0f} s: {met}"


if __name__ == "__main__":
    raise SystemExit(main())
