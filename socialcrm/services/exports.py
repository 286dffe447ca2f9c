"""Exports of stored records as rows (dicts) and writers for JSON Lines and CSV; every row carries customer_ref."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlmodel import Session, col, select

from socialcrm.models import Customer, Mention, ReplyDraft, Ticket, TicketMention
from socialcrm.services.label_predictions import labels_of
from socialcrm.services.records import iso, mention_record

MENTION_FIELDS = [
    "id",
    "source",
    "source_type",
    "external_id",
    "url",
    "thread_id",
    "parent_id",
    "kind",
    "author",
    "author_name",
    "title",
    "text",
    "language",
    "sentiment",
    "sentiment_score",
    "customer_ref",
    "link_method",
    "link_confidence",
    "group",
    "tags",
    "published_at",
    "fetched_at",
    "labels",  # the custom labels predicted for the mention (names); added after the first release
]
TICKET_FIELDS = [
    "id",
    "status",
    "priority",
    "team",
    "assignee",
    "rule",
    "customer_ref",
    "mention_ids",
    "subject",
    "created_at",
    "first_response_due",
    "resolution_due",
    "first_response_at",
    "resolved_at",
    "closed_at",
]
DRAFT_FIELDS = [
    "id",
    "status",
    "rule",
    "language",
    "text",
    "mention_id",
    "customer_ref",
    "template",
    "approved_by",
    "approved_at",
    "sent_at",
    "external_reply_url",
    "created_at",
]
PAGE = 1000


def _refs(session: Session, ids: Iterable[int | None]) -> dict[int | None, str]:
    wanted = sorted({i for i in ids if i is not None})
    refs: dict[int | None, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for cid, ref in session.exec(select(Customer.id, Customer.customer_ref).where(col(Customer.id).in_(chunk))):
            refs[cid] = ref
    return refs


def _paged(session: Session, model: Any) -> Iterator[list[Any]]:
    last = 0
    while True:
        rows = list(session.exec(select(model).where(model.id > last).order_by(model.id).limit(PAGE)))
        if not rows:
            return
        yield rows
        last = rows[-1].id


def mention_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every mention as an export row (MENTION_FIELDS), oldest id first."""
    for page in _paged(session, Mention):
        refs = _refs(session, (m.customer_id for m in page))
        labels = labels_of(session, [m.id for m in page if m.id is not None])
        for m in page:
            ref = refs.get(m.customer_id) if m.customer_id else None
            yield mention_record(m, ref, MENTION_FIELDS, list(labels.get(m.id or 0, {})))


def ticket_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every ticket as an export row (TICKET_FIELDS), with the ids of its mentions."""
    for page in _paged(session, Ticket):
        refs = _refs(session, (t.customer_id for t in page))
        ids = [t.id for t in page]
        links: dict[int, list[int]] = {}
        for tid, mid in session.exec(
            select(TicketMention.ticket_id, TicketMention.mention_id)
            .where(col(TicketMention.ticket_id).in_(ids))
            .order_by(col(TicketMention.mention_id))
        ):
            links.setdefault(tid, []).append(mid)
        for t in page:
            yield {
                "id": t.id,
                "status": t.status,
                "priority": t.priority,
                "team": t.team,
                "assignee": t.assignee,
                "rule": t.rule,
                "customer_ref": refs.get(t.customer_id) if t.customer_id else None,
                "mention_ids": links.get(t.id, []),
                "subject": t.subject,
                "created_at": iso(t.created_at),
                "first_response_due": iso(t.first_response_due),
                "resolution_due": iso(t.resolution_due),
                "first_response_at": iso(t.first_response_at),
                "resolved_at": iso(t.resolved_at),
                "closed_at": iso(t.closed_at),
            }


def draft_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every reply draft as an export row (DRAFT_FIELDS)."""
    for page in _paged(session, ReplyDraft):
        refs = _refs(session, (d.customer_id for d in page))
        for d in page:
            yield {
                "id": d.id,
                "status": d.status,
                "rule": d.rule,
                "language": d.language,
                "text": d.text,
                "mention_id": d.mention_id,
                "customer_ref": refs.get(d.customer_id) if d.customer_id else None,
                "template": d.template,
                "approved_by": d.approved_by,
                "approved_at": iso(d.approved_at),
                "sent_at": iso(d.sent_at),
                "external_reply_url": d.external_reply_url,
                "created_at": iso(d.created_at),
            }


def _customer_rows(session: Session) -> Iterator[dict[str, Any]]:
    from socialcrm.services.customers import export_customers_rows

    return export_customers_rows(session)


EXPORTS: dict[str, tuple[Callable[[Session], Iterator[dict[str, Any]]], list[str] | None]] = {
    "mentions": (mention_rows, MENTION_FIELDS),
    "tickets": (ticket_rows, TICKET_FIELDS),
    "drafts": (draft_rows, DRAFT_FIELDS),
    "customers": (_customer_rows, None),
}


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """Write one JSON object per line; return the number of rows."""
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, default=str))
        out.write("\n")
        count += 1
    return count


def _csv_value(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        # Spreadsheet formula injection: a post beginning with "=" must stay text in Excel.
        return "'" + value
    return value


@dataclass(frozen=True, slots=True)
class CsvStyle:
    """How a CSV file is written: its separator, and whether it opens with a UTF-8 byte order mark."""

    delimiter: str = ","
    bom: bool = False

    @classmethod
    def for_spreadsheet(cls, language: str) -> CsvStyle:
        """What Excel opens cleanly in ``language``: a byte order mark, and ';' in German, ',' in English.

        Without the mark Excel reads UTF-8 as its ANSI code page (umlauts break); German Excel separates
        fields with ';' because ',' is its decimal comma.
        """
        return cls(delimiter=";" if language == "de" else ",", bom=True)


PLAIN_CSV = CsvStyle()
"""RFC 4180 as tools expect it: commas, no byte order mark."""
DELIMITERS = {",": ",", ";": ";", "tab": "\t"}
"""The separators one can choose (``--delimiter``), by the name given."""


def csv_writer(out: IO[str], style: CsvStyle = PLAIN_CSV, line_end: str = "\n") -> Any:
    """A ``csv.writer`` on ``out`` in ``style``, the byte order mark already written when the style has one."""
    if style.bom:
        out.write("\ufeff")
    return csv.writer(out, delimiter=style.delimiter, lineterminator=line_end)


def write_csv(
    rows: Iterable[dict[str, Any]], out: IO[str], fields: list[str] | None = None, style: CsvStyle = PLAIN_CSV
) -> int:
    """Write CSV with a header (``fields``, else the first row's keys), formulas defused; return the row count."""
    writer: Any = None
    names = fields
    count = 0
    for row in rows:
        if writer is None:
            writer = csv_writer(out, style)
            names = fields or list(row)
            writer.writerow(names)
        assert names is not None
        writer.writerow([_csv_value(row.get(name)) for name in names])
        count += 1
    if writer is None and fields:
        csv_writer(out, style).writerow(fields)
    return count
