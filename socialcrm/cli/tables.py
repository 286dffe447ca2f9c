"""Plain-text tables for the terminal: each column as wide as its widest cell, so rows stay aligned."""

from __future__ import annotations

import re
from collections.abc import Sequence

_WHITESPACE = re.compile(r"\s+")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, numeric: Sequence[str] = ()) -> list[str]:
    """Lines of a table: columns named in ``numeric`` are right-aligned; the last column is not padded.

    Cells are shown on one line (line breaks and tabs in them become spaces), so a long value widens
    its column instead of pushing the others out of line.
    """
    cells = [[_one_line(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = []
    for row in [list(headers), *cells]:
        parts = []
        for i, (cell, width) in enumerate(zip(row, widths, strict=True)):
            if i == len(headers) - 1:
                parts.append(cell)
            elif headers[i] in numeric:
                parts.append(cell.rjust(width))
            else:
                parts.append(cell.ljust(width))
        lines.append("  ".join(parts).rstrip())
    return lines


def _one_line(value: object) -> str:
    return _WHITESPACE.sub(" ", "" if value is None else str(value)).strip()
