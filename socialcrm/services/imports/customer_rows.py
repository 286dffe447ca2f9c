"""Customer rows: the columns a customer import reads, and the check of one row (a ValueError says why not)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from socialcrm.linking.normalize import normalize_email, normalize_handle, normalize_phone
from socialcrm.services.imports.csvfile import CsvRow

PLATFORMS = ("reddit", "mastodon", "bluesky", "discourse", "hackernews", "feed")
CUSTOMER_COLUMNS = ("customer_ref", "name", "email", "phone", "company", "segment", *PLATFORMS)
CUSTOMER_OPTIONAL = ("tags", "consent_marketing", "consent_contact")
LIST_SPLIT = re.compile(r"\s*[;,|]\s*")
PHONE_SPLIT = re.compile(r"\s*[;|]\s*")
_SPACE = re.compile(r"\s")
_TRUE = {"1", "true", "yes", "y", "ja", "j", "x", "wahr"}
_FALSE = {"0", "false", "no", "n", "nein", "falsch", ""}
_LIMITS = (("name", 256), ("company", 256), ("segment", 64))


@dataclass(slots=True)
class CustomerRow:
    """One valid row: what it says about the customer, normalised."""

    line: int
    ref: str
    fields: dict[str, str]  # name, company, segment: only those given (an empty cell never erases)
    emails: list[str]
    phones: list[str]
    handles: dict[str, tuple[str, str]]  # platform -> (handle as stored, as written)
    tags: list[str]
    consent: dict[str, bool]


def _flag(value: str, column: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return None if lowered == "" else False
    raise ValueError(f"{column}: {value!r} is not yes/no (use true/false, yes/no, ja/nein or 1/0)")


def _ref(values: dict[str, str]) -> str:
    ref = values.get("customer_ref", "")
    if not ref:
        raise ValueError("customer_ref is empty")
    if len(ref) > 128 or _SPACE.search(ref):
        raise ValueError(f"customer_ref {ref!r}: at most 128 characters, no spaces")
    if ref.startswith("prospect-"):
        raise ValueError(f"customer_ref {ref!r}: 'prospect-' is reserved for authors not yet known")
    return ref


def _contacts(values: dict[str, str]) -> tuple[list[str], list[str]]:
    emails: list[str] = []
    for raw in LIST_SPLIT.split(values["email"]) if values.get("email") else []:
        normal = normalize_email(raw)
        if normal is None:
            raise ValueError(f"email {raw!r} is not an e-mail address")
        if len(normal) > 256:
            raise ValueError(f"email {raw[:40]!r}...: longer than 256 characters")
        if normal not in emails:
            emails.append(normal)
    phones: list[str] = []
    for raw in PHONE_SPLIT.split(values["phone"]) if values.get("phone") else []:
        normal = normalize_phone(raw)
        if normal is None:
            raise ValueError(f"phone {raw!r} is not a phone number")
        if normal not in phones:
            phones.append(normal)
    return emails, phones


def _handles(values: dict[str, str]) -> dict[str, tuple[str, str]]:
    handles = {}
    for platform in PLATFORMS:
        value = values.get(platform, "")
        if not value:
            continue
        handle = normalize_handle(platform, value)
        if platform != "feed" and _SPACE.search(handle):
            raise ValueError(f"{platform} handle {value!r} contains spaces")
        if len(handle) > 256 or len(value) > 256:
            raise ValueError(f"{platform} handle is longer than 256 characters")
        handles[platform] = (handle, value)
    return handles


def validate_customer(row: CsvRow) -> CustomerRow:
    """The row's customer, normalised; ValueError with the reason when the row cannot be imported."""
    values = row.values
    if row.extra_cells:
        raise ValueError(f"{row.extra_cells} more cell(s) than the header has (a delimiter inside an unquoted value?)")
    ref = _ref(values)
    emails, phones = _contacts(values)
    handles = _handles(values)
    for column, limit in _LIMITS:
        if len(values.get(column, "")) > limit:
            raise ValueError(f"{column} is longer than {limit} characters")
    consent = {}
    for key in ("consent_marketing", "consent_contact"):
        flag = _flag(values.get(key, ""), key)
        if flag is not None:
            consent[key] = flag
    return CustomerRow(
        line=row.line,
        ref=ref,
        fields={k: values[k] for k in ("name", "company", "segment") if values.get(k)},
        emails=emails,
        phones=phones,
        handles=handles,
        tags=[t for t in LIST_SPLIT.split(values["tags"]) if t] if values.get("tags") else [],
        consent=consent,
    )
