"""The spike detector behind alerts: volume or negative share against a trailing baseline, with minimum counts.

Time is cut into windows of ``[alerts] window`` (default 1 h) aligned to the Unix epoch, so every
window has one start that names it: an alert is raised at most once per (kind, scope, window),
whoever checks and however often. The window in progress is compared with the ``baseline``
(default 7 d) before it, cut into windows of the same length:

- volume: the mentions so far in the window reach the highest of ``min_mentions`` (default 20),
  ``spike_factor`` (default 2) times the baseline's median window, and the median plus
  ``sensitivity`` (default 4) robust standard deviations (1.4826 x the median absolute deviation).
  The median and MAD ignore a few loud windows in the baseline; the minimum keeps a quiet source
  from alerting on 2 mentions; the factor keeps a steady source from alerting on noise.
- negative share: at least ``min_negative`` (default 10) negative mentions in the window, their
  share at least ``negative_rise`` (default 0.2, i.e. 20 percentage points) above the baseline's
  share, and unlikely by chance: a z-score of at least 3 against the baseline share (floored at 5 %).

Each scope is checked alone: everything together, and each source.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from socialcrm.config_sections import AlertsConfig
from socialcrm.durations import parse_duration

ALL = "*"  # the scope "every source together"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """The window in progress and the baseline before it."""

    start: datetime
    end: datetime
    baseline_start: datetime
    length: timedelta

    @property
    def baseline_windows(self) -> int:
        """How many windows the baseline holds."""
        return max(1, round((self.start - self.baseline_start) / self.length))

    def index(self, moment: datetime) -> int | None:
        """The baseline window ``moment`` falls in (0 = oldest), None outside the baseline."""
        if not self.baseline_start <= moment < self.start:
            return None
        return int((moment - self.baseline_start) / self.length)


def current_window(now: datetime, alerts: AlertsConfig) -> Window:
    """The window ``now`` falls in, aligned to the epoch, and its baseline."""
    length = parse_duration(alerts.window)
    baseline = parse_duration(alerts.baseline)
    start = _EPOCH + ((now - _EPOCH) // length) * length
    windows = max(1, math.ceil(baseline / length))
    return Window(start=start, end=start + length, baseline_start=start - windows * length, length=length)


@dataclass(frozen=True, slots=True)
class Counts:
    """One scope's mentions: in the window so far, and per baseline window (total and negative)."""

    now: int
    now_negative: int
    baseline: Sequence[int]
    baseline_negative: Sequence[int]


@dataclass(frozen=True, slots=True)
class Spike:
    """A detected spike: what, where, how much against what was expected."""

    kind: str  # "volume" | "negative_share"
    scope: str  # ALL or a source name
    observed: float
    expected: float
    threshold: float
    mentions: int
    negative: int


def volume_threshold(baseline: Sequence[int], alerts: AlertsConfig) -> float:
    """The mention count a window must reach to be a volume spike."""
    median = statistics.median(baseline) if baseline else 0.0
    mad = statistics.median(abs(n - median) for n in baseline) if baseline else 0.0
    return max(float(alerts.min_mentions), alerts.spike_factor * median, median + alerts.sensitivity * 1.4826 * mad)


def detect(scope: str, counts: Counts, alerts: AlertsConfig) -> list[Spike]:
    """The spikes in one scope's counts (see the module docstring)."""
    found: list[Spike] = []
    expected = statistics.median(counts.baseline) if counts.baseline else 0.0
    threshold = volume_threshold(counts.baseline, alerts)
    if counts.now >= threshold:
        found.append(Spike("volume", scope, counts.now, expected, threshold, counts.now, counts.now_negative))
    total = sum(counts.baseline)
    usual = sum(counts.baseline_negative) / total if total else 0.0
    if counts.now and counts.now_negative >= alerts.min_negative:
        share = counts.now_negative / counts.now
        floor = max(usual, 0.05)
        z = (share - usual) / math.sqrt(floor * (1 - floor) / counts.now)
        if share >= usual + alerts.negative_rise and z >= 3:
            found.append(
                Spike(
                    "negative_share",
                    scope,
                    share,
                    usual,
                    min(1.0, usual + alerts.negative_rise),
                    counts.now,
                    counts.now_negative,
                )
            )
    return found
