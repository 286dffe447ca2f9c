"""Reading an import's CSV file: decoding, the header and its mapping, and every row with its physical line.

A quoted value may span lines (a name with a line break in it), but an unbalanced quote must not
swallow the rows after it. A record that spans lines and does not end cleanly (a quote closed in
the middle of a value, fewer or more cells than the header, the delimiter inside a used value
after a line break, the end of the file inside quotes) is reported as one broken line, and reading
starts again on the next line: every line of the file ends up in exactly one row, imported or
reported. Lines are counted as editors count them (``\\n``, ``\\r\\n`` or ``\\r`` ends one).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from socialcrm.errors import ImportFileError, ImportRowError

DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: its first physical line, its last (a quoted value may span lines), its used cells."""

    line: int
    last_line: int
    values: dict[str, str]
    extra_cells: int = 0


@dataclass
class CsvTable:
    """The rows of a file, and the lines that could not be read as a row (each with its reason)."""

    rows: list[CsvRow] = field(default_factory=list)
    broken: list[ImportRowError] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Data rows in the file (blank lines are not rows)."""
        return len(self.rows) + len(self.broken)


@dataclass(frozen=True, slots=True)
class _Record:
    first: int  # 1-based physical line numbers
    last: int
    cells: list[str] | None  # None: broken, see why
    why: str = ""


class _Lines:
    """Feeds physical lines to csv.reader from a position, and tells how far it has read."""

    def __init__(self, lines: Sequence[str], start: int) -> None:
        self.lines = lines
        self.read = start  # lines consumed so far (= 1-based number of the last line read)

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.read >= len(self.lines):
            raise StopIteration
        self.read += 1
        return self.lines[self.read - 1]


def decode(data: bytes, name: str) -> str:
    """The file's text (UTF-8, a BOM is fine); ImportFileError naming the line of the first bad byte."""
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
    return text


def _delimiter(first_line: str, wanted: str | None) -> str:
    if wanted is None:
        return max(DELIMITERS, key=first_line.count)
    if wanted in ("\\t", "tab", "TAB"):
        return "\t"
    if len(wanted) != 1:
        raise ImportFileError(f"--delimiter {wanted!r}: must be one character")
    return wanted


def _records(lines: Sequence[str], start: int, delimiter: str, width: int, used: set[int]) -> Iterator[_Record]:
    """Every record from line index ``start`` on; after a broken one, reading resumes on its next line."""
    feed = _Lines(lines, start)
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    while True:
        first = feed.read + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            record = _after_error(lines, first, feed.read, delimiter, err)
        else:
            record = _check_span(first, feed.read, cells, delimiter, width, used)
            if record.cells is not None:
                yield record
                continue
        yield record
        # After a refused record, read on with a fresh reader: from the next line when the record swallowed
        # lines (each is read again on its own), else after the record.
        feed = _Lines(lines, first if record.cells is None else max(first, feed.read))
        reader = csv.reader(feed, delimiter=delimiter, strict=True)


def _after_error(lines: Sequence[str], first: int, last: int, delimiter: str, err: csv.Error) -> _Record:
    """A record the strict reader refused: a lone line is read leniently, a span is an unbalanced quote."""
    last = max(first, last)
    if last == first:
        try:
            cells = next(csv.reader([lines[first - 1]], delimiter=delimiter), [])
        except csv.Error as lenient:
            return _Record(first, last, None, f"unreadable CSV: {lenient}")
        if not any("\n" in c or "\r" in c for c in cells):  # e.g. "Anna" Schmidt: a quote, then more text
            return _Record(first, last, cells)
        return _Record(first, last, None, "unbalanced quote: a quote opened on this line is never closed")
    if last >= len(lines) and "end of data" in str(err):
        where = "before the end of the file"
    else:
        where = f"where it should be (read on to line {last})"
    return _Record(first, last, None, f"unbalanced quote: a quote opened on this line is not closed {where}")


def _check_span(first: int, last: int, cells: list[str], delimiter: str, width: int, used: set[int]) -> _Record:
    """A record over several lines stands only if it looks like one row with a line break in a value."""
    if last == first:
        return _Record(first, last, cells)
    if len(cells) != width:
        problem = f"{len(cells)} cells instead of {width}"
    else:
        broken = [i for i in used if i < len(cells) and delimiter in cells[i].replace("\r\n", "\n").partition("\n")[2]]
        if not broken:
            return _Record(first, last, cells)
        problem = "the delimiter after a line break inside one value"
    return _Record(
        first,
        last,
        None,
        f"unbalanced quote: the quoted value opened on this line runs on to line {last} ({problem}); "
        "the next lines are read as rows of their own",
    )


def _columns(
    header: list[str], name: str, fields: Sequence[str], required: Sequence[str], mapping: Mapping[str, str]
) -> dict[str, int]:
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
    return columns


def read_table(
    data: bytes,
    *,
    name: str,
    fields: Sequence[str],
    required: Sequence[str],
    mapping: Mapping[str, str],
    delimiter: str | None,
) -> CsvTable:
    """Decode, find the header and return every data row, or the reason its line could not be read."""
    lines = io.StringIO(decode(data, name), newline="").readlines()
    if not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"  # so that a quote left open on the last line is noticed like any other
    delimiter = _delimiter(lines[0], delimiter)
    try:
        head = next(_records(lines, 0, delimiter, 0, set()))
    except StopIteration:
        raise ImportFileError(f"{name}: the file is empty") from None
    if head.cells is None or head.last != 1:
        raise ImportFileError(f"{name}: line 1: the header has an unbalanced quote")
    header = [h.strip() for h in head.cells]
    columns = _columns(header, name, fields, required, mapping)
    table = CsvTable()
    for record in _records(lines, 1, delimiter, len(header), set(columns.values())):
        if record.cells is None:
            table.broken.append(ImportRowError(record.first, record.why))
            continue
        cells = record.cells
        if not any(cell.strip() for cell in cells):
            continue
        values = {key: cells[i].strip() if i < len(cells) else "" for key, i in columns.items()}
        nul = next((key for key, value in values.items() if "\x00" in value), None)
        if nul is not None:
            why = f"{nul} contains a NUL byte (0x00): the file may be damaged; fix or remove it and import again"
            table.broken.append(ImportRowError(record.first, why))
            continue
        table.rows.append(CsvRow(record.first, record.last, values, max(0, len(cells) - len(header))))
    return table
