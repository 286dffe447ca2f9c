"""Order imports: rows are checked and grouped by order number (line items), then written a batch at a time.

Several rows with one order number are the order's line items: their products are joined. An order
whose customer is unknown is rejected on every one of its rows. A re-import updates an order
(customer, date, products, status; an empty date or status never erases), never duplicates it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from socialcrm.errors import ImportRowError
from socialcrm.linking.link import resolve_customer
from socialcrm.models import Customer, Order, utcnow
from socialcrm.services import audit
from socialcrm.services.bulk import BATCH, Bulk, batches, write_safely
from socialcrm.services.imports.csvfile import CsvRow, read_table
from socialcrm.services.imports.report import ImportReport, Progress, no_progress

ORDER_COLUMNS = ("order_number", "customer_ref", "date", "product", "status")
PRODUCT_SPLIT = re.compile(r"\s*[;|]\s*")
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%Y-%m-%d %H:%M",
    "%d.%m.%Y %H:%M",
)


@dataclass(slots=True)
class OrderGroup:
    """One order as the file states it, gathered from its rows."""

    number: str
    ref: str
    lines: list[int]
    ordered_at: datetime | None
    products: list[str]
    status: str | None


@dataclass
class _Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[ImportRowError] = field(default_factory=list)


@functools.lru_cache(maxsize=4096)  # an export repeats its dates many times
def parse_date(value: str) -> datetime | None:
    """``2026-03-01``, ``01.03.2026``, ISO with time and zone...: a UTC datetime; None for an empty cell."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueError(f"date {value!r} is not a date (use 2026-03-01 or 01.03.2026)")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _check(row: CsvRow) -> tuple[str, str, datetime | None, list[str], str | None]:
    values = row.values
    if row.extra_cells:
        raise ValueError(f"{row.extra_cells} more cell(s) than the header has")
    number, ref = values.get("order_number", ""), values.get("customer_ref", "")
    if not number or len(number) > 64:
        raise ValueError("order_number is empty" if not number else "order_number is longer than 64 characters")
    if not ref:
        raise ValueError("customer_ref is empty")
    status = values.get("status") or None
    if status is not None and len(status) > 32:
        raise ValueError(f"status {status[:40]!r} is longer than 32 characters")
    products = [p for p in PRODUCT_SPLIT.split(values.get("product", "")) if p]
    return number, ref, parse_date(values.get("date", "")), products, status


def group_orders(rows: Sequence[CsvRow], report: ImportReport) -> list[OrderGroup]:
    """Check each row and gather line items by order number; bad rows go to ``report.rejected``."""
    groups: dict[str, OrderGroup] = {}
    for row in rows:
        try:
            number, ref, ordered_at, products, status = _check(row)
            group = groups.get(number)
            if group is not None and group.ref != ref:
                raise ValueError(f"order {number} belongs to {group.ref} on line {group.lines[0]}, not {ref}")
        except ValueError as err:
            report.reject(row.line, str(err))
            continue
        if group is None:
            groups[number] = OrderGroup(number, ref, [row.line], ordered_at, products, status)
        else:
            group.lines.append(row.line)
            group.products.extend(p for p in products if p not in group.products)
    return list(groups.values())


def _customers(bulk: Bulk, refs: Sequence[str]) -> dict[str, int]:
    """customer_ref -> id of the customer (or the one it was merged into); prospects are not customers."""
    found: dict[str, int] = {}
    for chunk in batches(sorted(set(refs))):
        statement = select(Customer.customer_ref, Customer.id, Customer.is_prospect, Customer.merged_into_id).where(
            bulk.among(Customer.customer_ref, chunk)
        )
        for ref, id_, prospect, merged_into in bulk.session.exec(statement):
            if merged_into is not None:
                survivor = resolve_customer(bulk.session, id_)
                if survivor is not None and survivor.id is not None and not survivor.is_prospect:
                    found[ref] = survivor.id
            elif not prospect and id_ is not None:
                found[ref] = id_
    return found


def _stored(bulk: Bulk, numbers: Sequence[str]) -> dict[str, tuple[int, int, datetime | None, list[str], str | None]]:
    """order_number -> (id, customer id, date, products, status) of the orders already stored."""
    found = {}
    for chunk in batches(numbers):
        statement = sa_select(
            col(Order.order_number),
            col(Order.id),
            col(Order.customer_id),
            col(Order.ordered_at),
            col(Order.products),
            col(Order.status),
        ).where(bulk.among(Order.order_number, chunk))
        for number, id_, customer_id, ordered_at, products, status in bulk.session.execute(statement):
            found[number] = (id_, customer_id, ordered_at, products, status)
    return found


def _write_batch(bulk: Bulk, groups: Sequence[OrderGroup], now: datetime) -> _Outcome:
    """Store one batch of orders: new ones in one insert, changed ones in one update."""
    outcome = _Outcome()
    with bulk.custom_plans():
        owners = _customers(bulk, [g.ref for g in groups])
        stored = _stored(bulk, [g.number for g in groups])
    new, changed = [], []
    for group in groups:
        customer_id = owners.get(group.ref)
        if customer_id is None:
            why = f"unknown customer_ref {group.ref!r} (import customers first)"
            outcome.rejected.extend(ImportRowError(line, why) for line in group.lines)
            continue
        known = stored.get(group.number)
        if known is None:
            new.append((group.number, customer_id, group.ordered_at, group.products, group.status, now))
            continue
        id_, *old = known
        values = (customer_id, group.ordered_at or old[1], group.products, group.status or old[3])
        if list(values) != old:
            changed.append((*values, now, id_))
        else:
            outcome.unchanged += 1
    table = Order.__table__  # type: ignore[attr-defined]
    outcome.created = bulk.insert(
        table, ("order_number", "customer_id", "ordered_at", "products", "status", "updated_at"), new
    )
    outcome.updated = bulk.update(table, ("customer_id", "ordered_at", "products", "status", "updated_at"), changed)
    return outcome


def import_orders(
    session: Session,
    data: bytes,
    *,
    name: str = "orders.csv",
    mapping: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    actor: str = "cli",
    progress: Progress = no_progress,
) -> ImportReport:
    """Import orders; several rows with one order_number are its line items (their products are joined)."""
    table = read_table(
        data,
        name=name,
        fields=ORDER_COLUMNS,
        required=("order_number", "customer_ref"),
        mapping=mapping or {},
        delimiter=delimiter,
    )
    report = ImportReport(rows=table.count, rejected=list(table.broken))
    groups = group_orders(table.rows, report)
    bulk, now = Bulk(session), utcnow()

    def refused(group: OrderGroup, why: str) -> None:
        for line in group.lines:
            report.reject(line, why)

    progress("orders", 0, len(groups))
    with bulk.roomy_cache(table.count):
        for done, batch in enumerate(batches(groups, BATCH), start=1):
            for outcome in write_safely(bulk, batch, lambda chunk: _write_batch(bulk, chunk, now), refused):
                report.created += outcome.created
                report.updated += outcome.updated
                report.unchanged += outcome.unchanged
                report.rejected.extend(outcome.rejected)
            progress("orders", min(done * BATCH, len(groups)), len(groups))
    session.expire_all()
    report.rejected.sort(key=lambda e: e.line)
    detail = {"file": name, "created": report.created, "updated": report.updated, "rejected": len(report.rejected)}
    audit.record(session, actor, "import.orders", "import", None, detail)
    return report
