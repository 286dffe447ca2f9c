"""What an import did (counts, every rejected row with its line, merge candidates), and its progress callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from socialcrm.errors import ImportRowError
from socialcrm.models import MergeCandidate

# progress(stage, done, total): called as an import moves on, e.g. ("customers", 3000, 100000).
Progress = Callable[[str, int, int], None]


def no_progress(_stage: str, _done: int, _total: int) -> None:
    """The progress callback of an import nobody watches."""


@dataclass
class ImportReport:
    """What an import did; ``rows`` = rows imported + ``len(rejected)`` (each rejected row is listed once)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[ImportRowError] = field(default_factory=list)
    merge_candidates: list[MergeCandidate] = field(default_factory=list)
    duplicates: list[tuple[int, str, str, str]] = field(default_factory=list)  # (candidate id, ref, ref, why)
    notes: list[str] = field(default_factory=list)
    rows: int = 0  # data rows in the file (blank lines are not rows)

    @property
    def imported(self) -> int:
        """Records created, updated or confirmed unchanged (customers, or orders: one per order number)."""
        return self.created + self.updated + self.unchanged

    @property
    def rows_imported(self) -> int:
        """Rows of the file that were imported (an order with three line items counts three)."""
        return self.rows - len(self.rejected)

    def reject(self, line: int, reason: str) -> None:
        """Report one row as rejected."""
        self.rejected.append(ImportRowError(line, reason))
