"""CSV imports of customers and orders at bulk speed: column mapping, per-row validation, updates on re-import.

Every row of the file is either imported or rejected with its line number and reason (a broken
quote or a NUL byte included) while the valid rows are stored, in batches. Customers are matched by
``customer_ref`` (re-import updates, never duplicates); afterwards the imported customers are checked
for duplicates (same e-mail, phone, or name and company) through indexed match keys, which are
listed as merge candidates and never merged silently. The file must be UTF-8 (a BOM is fine).

Modules: ``csvfile`` reads rows with their lines, ``customer_rows`` checks a customer row,
``customers`` and ``orders`` write them, ``duplicates`` lists merge candidates, ``bulk`` does the
batched writes (COPY on PostgreSQL, executemany on SQLite), ``report`` says what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from socialcrm.errors import ImportFileError, InvalidInputError
from socialcrm.services.imports.customer_rows import CUSTOMER_COLUMNS, CUSTOMER_OPTIONAL, PLATFORMS
from socialcrm.services.imports.customers import import_customers
from socialcrm.services.imports.orders import ORDER_COLUMNS, import_orders
from socialcrm.services.imports.report import ImportReport, Progress


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


def read_file(path: str | Path) -> bytes:
    """The file's bytes; ImportFileError with the path when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ImportFileError(f"{path}: cannot read: {err.strerror or err}") from None


__all__ = [
    "CUSTOMER_COLUMNS",
    "CUSTOMER_OPTIONAL",
    "ORDER_COLUMNS",
    "PLATFORMS",
    "ImportFileError",
    "ImportReport",
    "Progress",
    "import_customers",
    "import_orders",
    "parse_mapping",
    "read_file",
]
