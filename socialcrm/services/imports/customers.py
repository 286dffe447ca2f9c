"""Customer imports: rows are checked first, then written a batch at a time (creates, updates, contacts, handles).

Customers are matched by ``customer_ref``: a re-import updates (an empty cell never erases), never
duplicates. A handle that belongs to another customer rejects its row; one that belongs to a
prospect (an author seen before) is claimed: the prospect and its mentions join the customer.
Afterwards the imported customers are checked for duplicates through the match-key indexes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from socialcrm.errors import ImportRowError
from socialcrm.linking.link import resolve_customer
from socialcrm.models import ContactPoint, Customer, Identity, utcnow
from socialcrm.models.keys import contact_key, name_key
from socialcrm.models.name_keys import fuzzy_key
from socialcrm.services import audit
from socialcrm.services.bulk import BATCH, Bulk, ahead, batches, write_safely
from socialcrm.services.imports.csvfile import CsvTable, read_table
from socialcrm.services.imports.customer_rows import CUSTOMER_COLUMNS, CUSTOMER_OPTIONAL, CustomerRow, validate_customer
from socialcrm.services.imports.duplicates import list_duplicates
from socialcrm.services.imports.report import ImportReport, Progress, no_progress
from socialcrm.services.merges import merge_customers

_NEW_COLUMNS = (
    "id",
    "customer_ref",
    "name",
    "company",
    "segment",
    "tags",
    "consent_marketing",
    "consent_contact",
    "is_prospect",
    "created_at",
    "updated_at",
    "name_key",
    "fuzzy_key",
)
_FROM_IMPORT = {"source": "import"}  # the audit detail of every customer an import creates or changes
_UPDATED_COLUMNS = (
    "name",
    "company",
    "segment",
    "tags",
    "consent_marketing",
    "consent_contact",
    "updated_at",
    "name_key",
    "fuzzy_key",
)


@dataclass(slots=True)
class _Stored:
    """A customer already in the database, as far as an import compares it."""

    id: int
    name: str | None
    company: str | None
    segment: str | None
    tags: list[str]
    consent_marketing: bool
    consent_contact: bool
    merged_into_id: int | None


@dataclass(slots=True)
class _Plan:
    """What to write for one accepted row."""

    row: CustomerRow
    stored: _Stored | None
    customer_id: int = 0
    changed: bool = False
    identities: list[tuple[str, str, str]] = field(default_factory=list)  # platform, handle, as written
    prospects: list[tuple[int, str, str]] = field(default_factory=list)  # prospect id, platform, as written


@dataclass
class _Outcome:
    """What one batch did; added to the report only once the batch is stored."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    touched: list[int] = field(default_factory=list)
    rejected: list[ImportRowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _stored_by_ref(bulk: Bulk, refs: Sequence[str]) -> dict[str, _Stored]:
    found = {}
    for chunk in batches(refs):
        statement = sa_select(
            col(Customer.customer_ref),
            col(Customer.id),
            col(Customer.name),
            col(Customer.company),
            col(Customer.segment),
            col(Customer.tags),
            col(Customer.consent_marketing),
            col(Customer.consent_contact),
            col(Customer.merged_into_id),
        ).where(bulk.among(Customer.customer_ref, chunk))
        for ref, *values in bulk.session.execute(statement):
            found[ref] = _Stored(*values)
    return found


def _owners(bulk: Bulk, rows: Sequence[CustomerRow]) -> dict[tuple[str, str], tuple[int, str, bool]]:
    """(platform, handle) of the rows' handles -> (id, ref, is prospect?) of the customer it belongs to now."""
    owner_of: dict[tuple[str, str], int] = {}
    for platform in {p for row in rows for p in row.handles}:
        handles = sorted({row.handles[platform][0] for row in rows if platform in row.handles})
        for chunk in batches(handles):
            statement = select(Identity.handle, Identity.customer_id).where(
                Identity.platform == platform, bulk.among(Identity.handle, chunk)
            )
            owner_of.update(((platform, handle), owner) for handle, owner in bulk.session.exec(statement))
    people: dict[int, tuple[int, str, bool]] = {}
    for ids in batches(sorted(set(owner_of.values()))):
        who = select(Customer.id, Customer.customer_ref, Customer.is_prospect, Customer.merged_into_id).where(
            bulk.among(Customer.id, ids)
        )
        for id_, ref, prospect, merged_into in bulk.session.exec(who):
            assert id_ is not None
            survivor = resolve_customer(bulk.session, id_) if merged_into is not None else None
            if survivor is not None and survivor.id is not None:
                people[id_] = (survivor.id, survivor.customer_ref, survivor.is_prospect)
            else:
                people[id_] = (id_, ref, prospect)
    return {key: people[owner] for key, owner in owner_of.items() if owner in people}


def _plan(bulk: Bulk, rows: Sequence[CustomerRow], outcome: _Outcome) -> list[_Plan]:
    """Accept or reject each row of a batch against the database and the batch's earlier rows."""
    stored = _stored_by_ref(bulk, [row.ref for row in rows])
    owners = _owners(bulk, rows)
    claimed: dict[tuple[str, str] | int, str] = {}  # handle or prospect id -> ref of the row that took it
    plans = []
    for row in rows:
        known = stored.get(row.ref)
        if known is not None and known.merged_into_id is not None:
            survivor = resolve_customer(bulk.session, known.id)
            into = survivor.customer_ref if survivor else "?"
            outcome.rejected.append(ImportRowError(row.line, f"customer_ref {row.ref!r} was merged into {into}"))
            continue
        plan = _Plan(row, known)
        problem = _claim(plan, owners, claimed)
        if problem:
            outcome.rejected.append(ImportRowError(row.line, problem))
            continue
        for platform, handle, _ in plan.identities:
            claimed[(platform, handle)] = row.ref
        for prospect_id, _, _ in plan.prospects:
            claimed[prospect_id] = row.ref
        plans.append(plan)
    return plans


def _claim(
    plan: _Plan, owners: Mapping[tuple[str, str], tuple[int, str, bool]], claimed: Mapping[tuple[str, str] | int, str]
) -> str | None:
    """Fill the plan's new identities and prospects to claim; or say why a handle cannot be this customer's."""
    for platform, (handle, shown) in plan.row.handles.items():
        owner = owners.get((platform, handle))
        taken_by = claimed.get((platform, handle)) or (claimed.get(owner[0]) if owner else None)
        if taken_by is not None:
            return f"{platform} handle {shown!r} already belongs to customer {taken_by}"
        if owner is None:
            plan.identities.append((platform, handle, shown))
        elif plan.stored is not None and owner[0] == plan.stored.id:
            continue
        elif owner[2]:
            plan.prospects.append((owner[0], platform, shown))
        else:
            return f"{platform} handle {shown!r} already belongs to customer {owner[1]}"
    return None


def _insert_new(bulk: Bulk, plans: Sequence[_Plan], now: datetime) -> None:
    ids = bulk.next_ids(Customer.__table__, len(plans))  # type: ignore[attr-defined]
    rows = []
    for plan, id_ in zip(plans, ids, strict=True):
        plan.customer_id = id_
        f, consent = plan.row.fields, plan.row.consent
        name, company = f.get("name"), f.get("company")
        rows.append(
            (
                id_,
                plan.row.ref,
                name,
                company,
                f.get("segment"),
                list(dict.fromkeys(plan.row.tags)),
                consent.get("consent_marketing", False),
                consent.get("consent_contact", True),
                False,
                now,
                now,
                name_key(name, company),
                fuzzy_key(name),
            )
        )
    bulk.insert(Customer.__table__, _NEW_COLUMNS, rows)  # type: ignore[attr-defined]


def _update_existing(bulk: Bulk, plans: Sequence[_Plan], now: datetime) -> None:
    rows = []
    for plan in plans:
        old = plan.stored
        assert old is not None
        plan.customer_id = old.id
        f, consent = plan.row.fields, plan.row.consent
        name, company, segment = f.get("name", old.name), f.get("company", old.company), f.get("segment", old.segment)
        tags = [*old.tags, *[t for t in dict.fromkeys(plan.row.tags) if t not in old.tags]]
        marketing = consent.get("consent_marketing", old.consent_marketing)
        contact = consent.get("consent_contact", old.consent_contact)
        new = (name, company, segment, tags, marketing, contact)
        if new != (old.name, old.company, old.segment, old.tags, old.consent_marketing, old.consent_contact):
            plan.changed = True
            rows.append((*new, now, name_key(name, company), fuzzy_key(name), old.id))
    bulk.update(Customer.__table__, _UPDATED_COLUMNS, rows)  # type: ignore[attr-defined]


def _add_contact_points(bulk: Bulk, plans: Sequence[_Plan]) -> None:
    known: set[tuple[int, str, str]] = set()
    stored = [p.customer_id for p in plans if p.stored is not None]
    with bulk.custom_plans() if stored else nullcontext():
        for chunk in batches(stored):
            statement = select(ContactPoint.customer_id, ContactPoint.kind, ContactPoint.value).where(
                bulk.among(ContactPoint.customer_id, chunk)
            )
            known.update((id_, kind, value) for id_, kind, value in bulk.session.exec(statement))
    rows = []
    for plan in plans:
        for kind, values in (("email", plan.row.emails), ("phone", plan.row.phones)):
            for value in values:
                if (plan.customer_id, kind, value) not in known:
                    known.add((plan.customer_id, kind, value))
                    rows.append((plan.customer_id, kind, value, contact_key(kind, value)))
                    plan.changed = True
    bulk.insert(ContactPoint.__table__, ("customer_id", "kind", "value", "match_key"), rows)  # type: ignore[attr-defined]


def _claim_prospects(session: Session, plans: Sequence[_Plan], actor: str, outcome: _Outcome) -> None:
    if not any(plan.prospects for plan in plans):
        return
    session.expire_all()  # rows were written beside the ORM: let merge_customers read them afresh
    for plan in plans:
        for prospect_id, platform, shown in plan.prospects:
            # The company's own data says who this author is: the prospect's mentions join the customer.
            merge_customers(session, plan.customer_id, prospect_id, actor=actor)
            outcome.notes.append(
                f"line {plan.row.line}: {platform} author {shown!r} was a prospect; now customer {plan.row.ref}"
            )
            plan.changed = True
    session.flush()


def _add_identities(bulk: Bulk, plans: Sequence[_Plan], now: datetime) -> None:
    rows = []
    for plan in plans:
        for platform, handle, shown in plan.identities:
            rows.append((platform, handle, plan.customer_id, shown, True, now))
            plan.changed = True
    columns = ("platform", "handle", "customer_id", "display_name", "confirmed", "created_at")
    bulk.insert(Identity.__table__, columns, rows)  # type: ignore[attr-defined]


def _record(session: Session, plans: Sequence[_Plan], actor: str, outcome: _Outcome) -> None:
    created, changed = [], []
    for plan in plans:
        outcome.touched.append(plan.customer_id)
        if plan.stored is None:
            created.append(plan.customer_id)
        elif plan.changed:
            changed.append(plan.customer_id)
        else:
            outcome.unchanged += 1
    outcome.created += audit.record_many(session, actor, "customer.create", "customer", created, _FROM_IMPORT)
    outcome.updated += audit.record_many(session, actor, "customer.update", "customer", changed, _FROM_IMPORT)


def _write_batch(bulk: Bulk, rows: Sequence[CustomerRow], actor: str, now: datetime) -> _Outcome:
    """Store one batch of valid rows; rows that clash with the database are rejected in the outcome."""
    outcome = _Outcome()
    with bulk.custom_plans():
        plans = _plan(bulk, rows, outcome)
    _insert_new(bulk, [p for p in plans if p.stored is None], now)
    _update_existing(bulk, [p for p in plans if p.stored is not None], now)
    _add_contact_points(bulk, plans)
    _claim_prospects(bulk.session, plans, actor, outcome)
    _add_identities(bulk, plans, now)
    _record(bulk.session, plans, actor, outcome)
    return outcome


def _checked_batches(table: CsvTable, report: ImportReport) -> Iterator[tuple[list[CustomerRow], int]]:
    """Batches of valid rows, with how many rows of the file were checked so far; bad rows go to the report."""
    batch: list[CustomerRow] = []
    first_line: dict[str, int] = {}
    for checked, raw in enumerate(table.rows, start=1):
        try:
            row = validate_customer(raw)
            if row.ref in first_line:
                raise ValueError(f"customer_ref {row.ref!r} already appears on line {first_line[row.ref]}")
        except ValueError as err:
            report.reject(raw.line, str(err))
        else:
            first_line[row.ref] = row.line
            batch.append(row)
        if len(batch) == BATCH or (checked == len(table.rows) and batch):
            yield batch, checked
            batch = []


def _write_all(
    bulk: Bulk, table: CsvTable, report: ImportReport, actor: str, now: datetime, progress: Progress
) -> list[int]:
    """Check and write the rows batch by batch into ``report`` (the next batch is checked during the writes).

    Returns the ids of the customers imported.
    """
    touched: list[int] = []
    progress("customers", 0, len(table.rows))
    for batch, checked in ahead(_checked_batches(table, report)):
        write = lambda chunk: _write_batch(bulk, chunk, actor, now)  # noqa: E731
        for outcome in write_safely(bulk, batch, write, lambda row, why: report.reject(row.line, why)):
            report.created += outcome.created
            report.updated += outcome.updated
            report.unchanged += outcome.unchanged
            report.rejected.extend(outcome.rejected)
            report.notes.extend(outcome.notes)
            touched.extend(outcome.touched)
        progress("customers", checked, len(table.rows))
    progress("customers", len(table.rows), len(table.rows))
    return touched


def import_customers(
    session: Session,
    data: bytes,
    *,
    name: str = "customers.csv",
    mapping: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    actor: str = "cli",
    progress: Progress = no_progress,
) -> ImportReport:
    """Import customers from CSV bytes (default columns CUSTOMER_COLUMNS, optional tags and consent flags)."""
    table = read_table(
        data,
        name=name,
        fields=(*CUSTOMER_COLUMNS, *CUSTOMER_OPTIONAL),
        required=("customer_ref",),
        mapping=mapping or {},
        delimiter=delimiter,
    )
    report = ImportReport(rows=table.count, rejected=list(table.broken))
    bulk, now = Bulk(session), utcnow()
    with bulk.roomy_cache(len(table.rows)):
        touched = _write_all(bulk, table, report, actor, now, progress)
        session.expire_all()
        if len(touched) >= BATCH:
            bulk.analyze(Customer.__table__, ContactPoint.__table__, Identity.__table__)  # type: ignore[attr-defined]
        list_duplicates(session, touched, report, actor=actor, progress=progress)
    report.rejected.sort(key=lambda e: e.line)
    detail = {"file": name, "created": report.created, "updated": report.updated, "rejected": len(report.rejected)}
    audit.record(session, actor, "import.customers", "import", None, detail)
    return report
