"""CSV imports of customers and orders: column mapping, per-row validation, updates on re-import.

Every rejected row is reported with its line number and reason while the valid rows are stored.
Customers are matched by ``customer_ref`` (re-import updates, never duplicates); afterwards the
imported customers are checked for duplicates (same e-mail, phone, or name and company), which are
listed as merge candidates and never merged silently. The file must be UTF-8 (a BOM is fine).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from sqlmodel import Session, select

from socialcrm.errors import ImportFileError, ImportRowError, InvalidInputError
from socialcrm.linking.link import resolve_customer
from socialcrm.linking.normalize import normalize_email, normalize_handle, normalize_phone
from socialcrm.models import ContactPoint, Customer, Identity, MergeCandidate, Order, utcnow
from socialcrm.services import audit
from socialcrm.services.merges import detect_candidates, merge_customers

PLATFORMS = ("reddit", "mastodon", "bluesky", "discourse", "hackernews", "feed")
CUSTOMER_COLUMNS = ("customer_ref", "name", "email", "phone", "company", "segment", *PLATFORMS)
CUSTOMER_OPTIONAL = ("tags", "consent_marketing", "consent_contact")
ORDER_COLUMNS = ("order_number", "customer_ref", "date", "product", "status")
DELIMITERS = (",", ";", "\t", "|")
LIST_SPLIT = re.compile(r"\s*[;,|]\s*")
_TRUE = {"1", "true", "yes", "y", "ja", "j", "x", "wahr"}
_FALSE = {"0", "false", "no", "n", "nein", "falsch", ""}
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%Y-%m-%d %H:%M",
    "%d.%m.%Y %H:%M",
)


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[ImportRowError] = field(default_factory=list)
    merge_candidates: list[MergeCandidate] = field(default_factory=list)
    duplicates: list[tuple[int, str, str, str]] = field(default_factory=list)  # (candidate id, ref, ref, why)
    notes: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


def parse_mapping(items: Sequence[str] | None, allowed: Sequence[str]) -> dict[str, str]:
    """``["name=Kundenname", "email=E-Mail"]`` -> {field: header}; InvalidInputError names a bad item."""
    mapping: dict[str, str] = {}
    for item in items or ():
        for part in item.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise InvalidInputError(f"--map {part!r}: use FIELD=HEADER, e.g. name=Kundenname")
            key, header = (s.strip() for s in part.split("=", 1))
            if key not in allowed:
                raise InvalidInputError(f"--map {part!r}: unknown field {key!r} (fields: {', '.join(allowed)})")
            if not header:
                raise InvalidInputError(f"--map {part!r}: the header after '=' is empty")
            mapping[key] = header
    return mapping


def read_csv(
    data: bytes,
    *,
    name: str,
    fields: Sequence[str],
    required: Sequence[str],
    mapping: Mapping[str, str],
    delimiter: str | None,
) -> list[tuple[int, dict[str, str]]]:
    """Decode, find the header, and return (line number, {field: value}) per data row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ImportFileError(
            f"{name}: line {line}: not UTF-8 (byte 0x{data[err.start]:02x}); save the file as UTF-8 "
            "(in Excel: 'CSV UTF-8'), or convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None
    if not text.strip():
        raise ImportFileError(f"{name}: the file is empty")
    first_line = text.splitlines()[0]
    if delimiter is None:
        delimiter = max(DELIMITERS, key=first_line.count)
    elif delimiter in ("\\t", "tab", "TAB"):
        delimiter = "\t"
    if len(delimiter) != 1:
        raise ImportFileError(f"--delimiter {delimiter!r}: must be one character")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    columns: dict[str, int] = {}
    for key in fields:
        wanted = mapping.get(key, key)
        index = next((i for i, h in enumerate(header) if h.casefold() == wanted.casefold()), None)
        if index is not None:
            columns[key] = index
        elif key in mapping:
            raise ImportFileError(
                f"{name}: line 1: no column {wanted!r} for --map {key}={wanted} (columns: {', '.join(header)})"
            )
    missing = [k for k in required if k not in columns]
    if missing:
        hint = ", ".join(f"--map {k}=YOUR_HEADER" for k in missing)
        raise ImportFileError(
            f"{name}: line 1: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(header)}; map yours with {hint})"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    next_line = reader.line_num + 1
    try:
        for record in reader:
            line = next_line
            next_line = reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            row = {key: record[i].strip() if i < len(record) else "" for key, i in columns.items()}
            if len(record) > len(header):
                row["__extra__"] = str(len(record) - len(header))
            rows.append((line, row))
    except csv.Error as err:
        raise ImportFileError(f"{name}: line {reader.line_num}: unreadable CSV: {err}") from None
    return rows


def _flag(value: str, column: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return None if lowered == "" else False
    raise ValueError(f"{column}: {value!r} is not yes/no (use true/false, yes/no, ja/nein or 1/0)")


def _validate_customer(row: dict[str, str]) -> dict[str, object]:
    if "__extra__" in row:
        raise ValueError(f"{row['__extra__']} more cell(s) than the header has (a delimiter inside an unquoted value?)")
    ref = row.get("customer_ref", "")
    if not ref:
        raise ValueError("customer_ref is empty")
    if len(ref) > 128 or any(ch.isspace() for ch in ref):
        raise ValueError(f"customer_ref {ref!r}: at most 128 characters, no spaces")
    if ref.startswith("prospect-"):
        raise ValueError(f"customer_ref {ref!r}: 'prospect-' is reserved for authors not yet known")
    emails = []
    for raw in LIST_SPLIT.split(row.get("email", "")) if row.get("email") else []:
        normal = normalize_email(raw)
        if normal is None:
            raise ValueError(f"email {raw!r} is not an e-mail address")
        emails.append(normal)
    phones = []
    for raw in re.split(r"\s*[;|]\s*", row.get("phone", "")) if row.get("phone") else []:
        normal = normalize_phone(raw)
        if normal is None:
            raise ValueError(f"phone {raw!r} is not a phone number")
        phones.append(normal)
    handles = {}
    for platform in PLATFORMS:
        value = row.get(platform, "")
        if value:
            handle = normalize_handle(platform, value)
            if platform != "feed" and any(ch.isspace() for ch in handle):
                raise ValueError(f"{platform} handle {value!r} contains spaces")
            if len(handle) > 256:
                raise ValueError(f"{platform} handle is longer than 256 characters")
            handles[platform] = (handle, value)
    for column, limit in (("name", 256), ("company", 256), ("segment", 64)):
        if len(row.get(column, "")) > limit:
            raise ValueError(f"{column} is longer than {limit} characters")
    return {
        "ref": ref,
        "emails": emails,
        "phones": phones,
        "handles": handles,
        "fields": {k: row[k] for k in ("name", "company", "segment") if row.get(k)},
        "tags": [t for t in LIST_SPLIT.split(row.get("tags", "")) if t] if row.get("tags") else [],
        "consent": {
            k: v for k in ("consent_marketing", "consent_contact") if (v := _flag(row.get(k, ""), k)) is not None
        },
    }


def import_customers(
    session: Session,
    data: bytes,
    *,
    name: str = "customers.csv",
    mapping: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    actor: str = "cli",
) -> ImportReport:
    """Import customers from CSV bytes (default columns CUSTOMER_COLUMNS, optional tags and consent flags)."""
    rows = read_csv(
        data,
        name=name,
        fields=(*CUSTOMER_COLUMNS, *CUSTOMER_OPTIONAL),
        required=("customer_ref",),
        mapping=mapping or {},
        delimiter=delimiter,
    )
    report = ImportReport()
    seen: dict[str, int] = {}
    touched: list[int] = []
    for line, row in rows:
        try:
            parsed = _validate_customer(row)
            ref = str(parsed["ref"])
            if ref in seen:
                raise ValueError(f"customer_ref {ref!r} already appears on line {seen[ref]}")
            with session.begin_nested():
                customer_id, outcome = _store_customer(session, parsed, line, actor, report)
        except ImportRowError as err:
            report.rejected.append(err)
            continue
        except ValueError as err:
            report.rejected.append(ImportRowError(line, str(err)))
            continue
        seen[ref] = line
        touched.append(customer_id)
        setattr(report, outcome, getattr(report, outcome) + 1)
    if touched:
        report.merge_candidates = detect_candidates(session, touched, actor=actor)
        for candidate in report.merge_candidates:
            a = session.get(Customer, candidate.customer_a_id)
            b = session.get(Customer, candidate.customer_b_id)
            if candidate.id is not None and a is not None and b is not None:
                report.duplicates.append((candidate.id, a.customer_ref, b.customer_ref, candidate.reason))
    audit.record(
        session,
        actor,
        "import.customers",
        "import",
        None,
        {
            "file": name,
            "created": report.created,
            "updated": report.updated,
            "rejected": len(report.rejected),
        },
    )
    return report


def _store_customer(
    session: Session, parsed: dict[str, object], line: int, actor: str, report: ImportReport
) -> tuple[int, str]:
    ref = str(parsed["ref"])
    now = utcnow()
    customer = session.exec(select(Customer).where(Customer.customer_ref == ref)).first()
    created = customer is None
    if customer is None:
        customer = Customer(customer_ref=ref, created_at=now, updated_at=now)
    elif customer.merged_into_id is not None:
        survivor = resolve_customer(session, customer.id)
        raise ImportRowError(line, f"customer_ref {ref!r} was merged into {survivor.customer_ref if survivor else '?'}")
    changed = created
    for key, value in dict(parsed["fields"]).items():  # type: ignore[call-overload]
        if getattr(customer, key) != value:
            setattr(customer, key, value)
            changed = True
    for key, value in dict(parsed["consent"]).items():  # type: ignore[call-overload]
        if getattr(customer, key) != value:
            setattr(customer, key, value)
            changed = True
    new_tags = [t for t in parsed["tags"] if t not in customer.tags]  # type: ignore[attr-defined]
    if new_tags:
        customer.tags = [*customer.tags, *new_tags]
        changed = True
    if changed:
        customer.updated_at = now
    session.add(customer)
    session.flush()
    assert customer.id is not None
    for kind, values in (("email", parsed["emails"]), ("phone", parsed["phones"])):
        for value in values:  # type: ignore[attr-defined]
            exists = session.exec(
                select(ContactPoint.id).where(
                    ContactPoint.customer_id == customer.id,
                    ContactPoint.kind == kind,
                    ContactPoint.value == value,
                )
            ).first()
            if exists is None:
                session.add(ContactPoint(customer_id=customer.id, kind=kind, value=value))
                changed = True
    for platform, (handle, shown) in dict(parsed["handles"]).items():  # type: ignore[call-overload]
        identity = session.exec(
            select(Identity).where(Identity.platform == platform, Identity.handle == handle)
        ).first()
        if identity is None:
            session.add(
                Identity(
                    platform=platform,
                    handle=handle,
                    customer_id=customer.id,
                    display_name=shown,
                    created_at=now,
                )
            )
            changed = True
            continue
        owner = resolve_customer(session, identity.customer_id)
        if owner is None or owner.id == customer.id:
            continue
        if owner.is_prospect:
            # The company's own data says who this author is: the prospect's mentions join the customer.
            merge_customers(session, customer.id, owner.id, actor=actor)  # type: ignore[arg-type]
            report.notes.append(f"line {line}: {platform} author {shown!r} was a prospect; now customer {ref}")
            changed = True
        else:
            raise ImportRowError(line, f"{platform} handle {shown!r} already belongs to customer {owner.customer_ref}")
    session.flush()
    if created:
        audit.record(session, actor, "customer.create", "customer", customer.id, {"source": "import"})
        return customer.id, "created"
    if changed:
        audit.record(session, actor, "customer.update", "customer", customer.id, {"source": "import"})
        return customer.id, "updated"
    return customer.id, "unchanged"


def _parse_date(value: str) -> datetime | None:
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


def import_orders(
    session: Session,
    data: bytes,
    *,
    name: str = "orders.csv",
    mapping: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    actor: str = "cli",
) -> ImportReport:
    """Import orders; several rows with one order_number are its line items (their products are joined)."""
    rows = read_csv(
        data,
        name=name,
        fields=ORDER_COLUMNS,
        required=("order_number", "customer_ref"),
        mapping=mapping or {},
        delimiter=delimiter,
    )
    report = ImportReport()
    grouped: dict[str, dict[str, object]] = {}
    for line, row in rows:
        try:
            if "__extra__" in row:
                raise ValueError(f"{row['__extra__']} more cell(s) than the header has")
            number, ref = row.get("order_number", ""), row.get("customer_ref", "")
            if not number or len(number) > 64:
                raise ValueError("order_number is empty" if not number else "order_number is longer than 64 characters")
            if not ref:
                raise ValueError("customer_ref is empty")
            ordered_at = _parse_date(row.get("date", ""))
            products = [p for p in re.split(r"\s*[;|]\s*", row.get("product", "")) if p]
            entry = grouped.get(number)
            if entry is None:
                grouped[number] = {
                    "line": line,
                    "ref": ref,
                    "date": ordered_at,
                    "products": products,
                    "status": row.get("status") or None,
                }
            elif entry["ref"] != ref:
                raise ValueError(f"order {number} belongs to {entry['ref']} on line {entry['line']}, not {ref}")
            else:
                known = cast(list[str], entry["products"])
                entry["products"] = [*known, *[p for p in products if p not in known]]
        except ValueError as err:
            report.rejected.append(ImportRowError(line, str(err)))
    for number, entry in grouped.items():
        line = int(entry["line"])  # type: ignore[call-overload]
        customer = session.exec(select(Customer).where(Customer.customer_ref == entry["ref"])).first()
        customer = resolve_customer(session, customer.id) if customer else None
        if customer is None or customer.id is None or customer.is_prospect:
            report.rejected.append(
                ImportRowError(line, f"unknown customer_ref {entry['ref']!r} (import customers first)")
            )
            continue
        order = session.exec(select(Order).where(Order.order_number == number)).first()
        values = {
            "customer_id": customer.id,
            "ordered_at": entry["date"],
            "products": entry["products"],
            "status": entry["status"],
        }
        if order is None:
            session.add(Order(order_number=number, updated_at=utcnow(), **values))  # type: ignore[arg-type]
            report.created += 1
            continue
        diff = {
            k: v
            for k, v in values.items()
            if getattr(order, k) != v and not (k in ("ordered_at", "status") and v is None)
        }
        if diff:
            for key, value in diff.items():
                setattr(order, key, value)
            order.updated_at = utcnow()
            session.add(order)
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()
    report.rejected.sort(key=lambda e: e.line)
    audit.record(
        session,
        actor,
        "import.orders",
        "import",
        None,
        {
            "file": name,
            "created": report.created,
            "updated": report.updated,
            "rejected": len(report.rejected),
        },
    )
    return report


def read_file(path: str | Path) -> bytes:
    """The file's bytes; ImportFileError with the path when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ImportFileError(f"{path}: cannot read: {err.strerror or err}") from None


__all__ = [
    "CUSTOMER_COLUMNS",
    "ORDER_COLUMNS",
    "ImportFileError",
    "ImportReport",
    "import_customers",
    "import_orders",
    "parse_mapping",
    "read_file",
]
