"""Find and redact every copy of a person's identifiers, in every table: what ``privacy erase`` sweeps last.

Erasure first deletes or wipes the person's own rows (services/privacy.py). Copies live on
elsewhere, in places nobody lists by hand: webhook and e-mail payloads in the outbox (whatever
their format), audit details, rule decision explanations, and other people's posts that quote her
e-mail address or phone number. The sweep therefore walks every text and JSON column of every
table, generically, so a table or payload format added later is covered too:

- candidates are found in the database (``LIKE`` on the column cast to text, lower-cased; JSON on
  SQLite is escaped, so the escaped form is searched too), then confirmed in Python;
- e-mail addresses and order numbers are replaced by ``[erased]`` wherever they appear; a phone
  number in any spelling whose last nine digits are hers; her own words (from a text of 24
  characters or more) wherever a run of them was copied (a webhook's excerpt, a ticket subject);
- names and bare handles only inside JSON values (payloads, audit details, explanations: copies
  made from her records), elsewhere a handle only as ``@handle``: another customer who shares her
  name keeps it;
- keys are never touched (primary and foreign keys, unique columns such as an outbox idempotency
  key or a post's external id, which keeps an erased post from being fetched in again).

Phone candidates are found by their last four digits, so a number written with a separator among
its last four digits is not found in the database (its other spellings are).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, String, Table, Text, TypeDecorator, cast, func, or_, select, update
from sqlmodel import Session, SQLModel

from socialcrm.models.columns import JSONType

ERASED = "[erased]"
MIN_TEXT_RUN = 24  # a copied run of her words shorter than this is not told apart from common phrases
MIN_NAME = 4  # shorter names and handles would erase ordinary words
PHONE_TAIL = 9  # two phone numbers are the same when their last nine digits agree (models/keys.py)
_PHONE_RUN = re.compile(r"(?:\+|00)?\d[\d \-/().]{5,24}\d")
_PHONE_SEPARATORS = " -/.)"


def _phone_tails(last_four: str) -> list[str]:
    """What the last four digits of a phone number look like written down: together or split once by a separator."""
    split = [last_four[:at] + sep + last_four[at:] for at in (1, 2, 3) for sep in _PHONE_SEPARATORS]
    return [last_four, *split]


@dataclass
class PersonTraces:
    """What identifies a person in free text and copies: contact points, names, handles, orders, her words."""

    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)  # last nine digits
    names: set[str] = field(default_factory=set)
    handles: set[str] = field(default_factory=set)
    order_numbers: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)

    def add_phone(self, value: str) -> None:
        """Remember a phone number by its last nine digits (shorter numbers are not told apart)."""
        digits = re.sub(r"\D", "", value)
        if len(digits) >= PHONE_TAIL:
            self.phones.add(digits[-PHONE_TAIL:])

    def add_text(self, text: str | None) -> None:
        """Remember one of her texts (a post, a title) when it is long enough to be recognised."""
        if text and len(text.strip()) >= MIN_TEXT_RUN:
            self.texts.add(text.strip())

    def __bool__(self) -> bool:
        return any((self.emails, self.phones, self.names, self.handles, self.order_numbers, self.texts))


@dataclass(frozen=True)
class Copy:
    """One value that holds a trace of the person: where it is and what it holds now."""

    table: str
    row_id: Any
    column: str
    value: Any


class Redactor:
    """Replaces the person's traces in a string or a JSON value with ``[erased]``."""

    def __init__(self, traces: PersonTraces) -> None:
        self.traces = traces
        self._literal = _words({*traces.emails, *traces.order_numbers})
        self._names = _words({n for n in traces.names if len(n) >= MIN_NAME})
        handles = sorted((h for h in traces.handles if len(h) >= MIN_NAME), key=len, reverse=True)
        alternatives = "|".join(re.escape(h) for h in handles)
        self._handle_word = re.compile(rf"(?<![\w.-])@?(?:{alternatives})(?![\w-])", re.I) if handles else None
        self._handle_at = re.compile(rf"(?<![\w.-])@(?:{alternatives})(?![\w-])", re.I) if handles else None
        self._texts = sorted(traces.texts, key=len, reverse=True)

    def patterns(self) -> list[str]:
        """``LIKE`` patterns (lower case) that every value holding a trace matches; a superset, confirmed later."""
        needles: set[str] = set()
        t = self.traces
        for value in (*t.emails, *(n for n in t.names if len(n) >= MIN_NAME), *t.order_numbers):
            needles.add(value.lower())
        needles.update(h.lower() for h in t.handles if len(h) >= MIN_NAME)
        needles.update(pattern for p in t.phones for pattern in _phone_tails(p[-4:]))
        needles.update(text[:MIN_TEXT_RUN].lower() for text in t.texts)
        escaped = {json.dumps(n)[1:-1] for n in needles} | needles  # SQLite keeps JSON ASCII-escaped
        return sorted("%" + n.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for n in escaped)

    def text(self, value: str, *, in_json: bool = False, found: list[str] | None = None) -> str:
        """``value`` with every trace replaced (handles: as a word in JSON values, as ``@handle`` in text).

        What was replaced is appended to ``found`` when given.
        """
        kept = found if found is not None else []

        def erase(match: re.Match[str]) -> str:
            kept.append(match.group())
            return ERASED

        value = self._erase_runs(value, kept)
        if self._literal is not None:
            value = self._literal.sub(erase, value)
        if in_json and self._names is not None:
            value = self._names.sub(erase, value)
        handle = self._handle_word if in_json else self._handle_at
        if handle is not None:
            value = handle.sub(erase, value)
        if self.traces.phones:
            value = _PHONE_RUN.sub(lambda m: erase(m) if self._is_hers(m.group()) else m.group(), value)
        return value

    def _is_hers(self, phone: str) -> bool:
        digits = re.sub(r"\D", "", phone)
        return len(digits) >= PHONE_TAIL and digits[-PHONE_TAIL:] in self.traces.phones

    def _erase_runs(self, value: str, found: list[str]) -> str:
        """Replace each copied run of her words (from a text's first 20 characters on, as far as it agrees)."""
        for text in self._texts:
            start = value.find(text[:MIN_TEXT_RUN])
            while start >= 0:
                length = MIN_TEXT_RUN
                while start + length < len(value) and length < len(text) and value[start + length] == text[length]:
                    length += 1
                found.append(value[start : start + length])
                value = value[:start] + ERASED + value[start + length :]
                start = value.find(text[:MIN_TEXT_RUN], start + len(ERASED))
        return value

    def found(self, value: Any) -> list[str]:
        """The pieces of her data in a string or JSON value (what redaction removes from it)."""
        pieces: list[str] = []
        self._walk(value, pieces)
        return pieces

    def json(self, value: Any) -> Any:
        """A JSON value with every string (and a number that is one of her order numbers) redacted."""
        return self._walk(value, [])

    def _walk(self, value: Any, found: list[str]) -> Any:
        if isinstance(value, str):
            return self.text(value, in_json=True, found=found)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            if str(value) in self.traces.order_numbers:
                found.append(str(value))
                return ERASED
            return value
        if isinstance(value, list):
            return [self._walk(item, found) for item in value]
        if isinstance(value, dict):
            return {key: self._walk(item, found) for key, item in value.items()}
        return value


def _words(values: set[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for these values where each stands as a word of its own."""
    ordered = sorted(values, key=len, reverse=True)
    alternatives = "|".join(rf"(?<!\w){re.escape(v)}(?!\w)" for v in ordered)
    return re.compile(alternatives, re.IGNORECASE) if ordered else None


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSONType | JSON)


def _is_text(column: Column[Any]) -> bool:
    kind = column.type
    if isinstance(kind, TypeDecorator):  # sqlmodel's AutoString, our own column types
        kind = kind.impl_instance
    return isinstance(kind, String | Text)


def _swept_columns(table: Table) -> list[Column[Any]]:
    """The text and JSON columns of a table that may hold a copy; keys and unique columns never."""
    keys: set[str] = set()
    for constraint in table.constraints:
        if constraint.__class__.__name__ in ("UniqueConstraint", "PrimaryKeyConstraint"):
            keys.update(c.name for c in getattr(constraint, "columns", ()))
    for index in table.indexes:
        if index.unique:
            keys.update(c.name for c in index.columns)
    return [
        c
        for c in table.columns
        if not (c.primary_key or c.foreign_keys or c.unique or c.name in keys) and (_is_json(c) or _is_text(c))
    ]


def _tables(skip: Iterable[str]) -> Iterator[tuple[Table, Column[Any], list[Column[Any]]]]:
    skipped = set(skip)
    for table in SQLModel.metadata.sorted_tables:
        primary = list(table.primary_key.columns)
        if table.name in skipped or len(primary) != 1:
            continue
        columns = _swept_columns(table)
        if columns:
            yield table, primary[0], columns


# Terms per query: SQLite parses a chain of ORs into a tree at most 1000 deep.
_TERMS_PER_QUERY = 200


def find_copies(session: Session, redactor: Redactor, *, skip_tables: Iterable[str] = ()) -> list[Copy]:
    """Every value in the database that holds one of the person's traces (read-only).

    One pass over each table per 200 search terms (a term: one column against one pattern).
    """
    if not redactor.traces:
        return []
    patterns = redactor.patterns()
    found: list[Copy] = []
    for table, primary, columns in _tables(skip_tables):
        terms = [func.lower(cast(c, Text)).like(p, escape="\\") for c in columns for p in patterns]
        seen: set[Any] = set()
        for start in range(0, len(terms), _TERMS_PER_QUERY):
            query = select(primary, *columns).where(or_(*terms[start : start + _TERMS_PER_QUERY]))
            for row in session.execute(query):
                if row[0] in seen:
                    continue
                seen.add(row[0])
                for column, value in zip(columns, row[1:], strict=True):
                    if value is None:
                        continue
                    redacted = redactor.json(value) if _is_json(column) else redactor.text(value)
                    if redacted != value:
                        found.append(Copy(table.name, row[0], column.name, value))
    return found


def redact_copies(session: Session, redactor: Redactor, *, skip_tables: Iterable[str] = ()) -> int:
    """Redact every copy ``find_copies`` finds, in place; return how many values changed."""
    copies = find_copies(session, redactor, skip_tables=skip_tables)
    tables = {table.name: (table, primary) for table, primary, _ in _tables(skip_tables)}
    for copy in copies:
        table, primary = tables[copy.table]
        column = table.c[copy.column]
        redacted = redactor.json(copy.value) if _is_json(column) else redactor.text(copy.value)
        session.execute(update(table).where(primary == copy.row_id).values({copy.column: redacted}))
    return len(copies)
