"""The ``volume`` condition: at least N matching mentions within a window (a spike), counted per batch."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from socialcrm.models import Mention
from socialcrm.rules.condition_result import ConditionResult
from socialcrm.rules.facts import Facts
from socialcrm.rules.query import Query
from socialcrm.rules.text import words

VOLUME_PAGE = 1000
VOLUME_BATCH_ROWS = 20000


@dataclass(frozen=True)
class VolumeCondition:
    """At least ``count`` mentions matching the filter within ``window`` up to this mention (a spike)."""

    key: str
    threshold: int
    window: timedelta
    query: Query | None
    sentiments: tuple[str, ...]
    sources: tuple[str, ...]
    source_types: tuple[str, ...]
    name: str = "volume"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when the counted volume (read by build_facts) reaches the threshold."""
        count = facts.volume.get(self.key, 0)
        expected = {"count": self.threshold, "window": show_delta(self.window)}
        if self.query is not None:
            expected["query"] = self.query.source
        return ConditionResult(self.name, count >= self.threshold, expected, count)

    def count(self, session: Session, mention: Mention, now: datetime) -> int:
        """Count matching mentions in the window ending at the mention's time, stopping at the threshold."""
        end = mention.published_at or now
        if self.query is None:
            counted = select(func.count()).select_from(Mention).where(*self._window(end - self.window, end))
            return int(session.exec(counted).one())
        total = 0
        last_id = 0
        while True:
            page = session.exec(
                select(Mention.id, Mention.title, Mention.text)
                .where(*self._window(end - self.window, end), col(Mention.id) > last_id)
                .order_by(col(Mention.id))
                .limit(VOLUME_PAGE)
            ).all()
            for _id, title, text in page:
                if self.query.matches(words(f"{title}\n{text}" if title else text)):
                    total += 1
                    if total >= self.threshold:
                        return total
            if len(page) < VOLUME_PAGE:
                return total
            last_id = page[-1][0] or last_id

    def count_many(self, session: Session, mentions: Sequence[Mention], now: datetime) -> list[int]:
        """``count`` for each of a batch of mentions, from one read of the span all their windows cover.

        When that span holds more than ``VOLUME_BATCH_ROWS`` mentions (a wide window on a busy source),
        each mention is counted on its own instead, as ``count`` does.
        """
        if not mentions:
            return []
        ends = [m.published_at or now for m in mentions]
        columns: list[Any] = [Mention.published_at]
        if self.query is not None:
            columns += [Mention.title, Mention.text]
        rows = session.exec(
            select(*columns).where(*self._window(min(ends) - self.window, max(ends))).limit(VOLUME_BATCH_ROWS + 1)
        ).all()
        if len(rows) > VOLUME_BATCH_ROWS:
            return [self.count(session, mention, now) for mention in mentions]
        if self.query is None:
            times = sorted(row[0] for row in rows)
        else:
            query = self.query
            times = sorted(row[0] for row in rows if query.matches(words(f"{row[1]}\n{row[2]}" if row[1] else row[2])))
        counts = [bisect_right(times, end) - bisect_right(times, end - self.window) for end in ends]
        return counts if self.query is None else [min(c, self.threshold) for c in counts]

    def _window(self, start: datetime, end: datetime) -> list[Any]:
        """The filters of this condition on mentions published in (start, end]."""
        filters = [col(Mention.published_at) > start, col(Mention.published_at) <= end]
        if self.sentiments:
            filters.append(col(Mention.sentiment).in_(self.sentiments))
        if self.sources:
            filters.append(col(Mention.source).in_(self.sources))
        if self.source_types:
            filters.append(col(Mention.source_type).in_(self.source_types))
        return filters


def show_delta(delta: timedelta) -> str:
    """A window as the shortest whole unit: 86400 s is "1d", 5400 s is "90m"."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
