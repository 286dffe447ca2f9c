"""bench/bench_ingest.py runs end to end on a tiny farm: every round printed, back to back in alternating order,
then the medians and the targets judged on them (the figures themselves are never asserted)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_ENV = "SOCIALCRM_TEST_DATABASE_URL"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_pipeline_part_prints_every_round_then_medians_and_targets() -> None:
    postgres = os.environ.get(PG_ENV, "")
    backends = ["sqlite", "postgres"] if postgres.startswith("postgresql") else ["sqlite"]
    command = [sys.executable, str(ROOT / "bench" / "bench_ingest.py"), "--parts", "pipeline", "--feeds", "3"]
    command += ["--entries", "4", "--rounds", "2", "--backends", ",".join(backends), "--port", str(free_port())]
    if postgres:
        command += ["--postgres", postgres]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout

    polls = re.findall(r"^\s+(\d)\s+[\d.]+ (\w+) first poll\s+[\d.]+\s+(\d+)\s", out, re.MULTILINE)
    assert [(r, backend) for r, backend, _ in polls] == [
        *(("1", b) for b in backends),
        *(("2", b) for b in reversed(backends)),  # the second round runs them in the other order
    ]
    assert {new for _, _, new in polls} == {"12"}  # 3 feeds x 4 new entries, stored in every round
    assert len(re.findall(r"^\s+\d\s+[\d.]+ limits: feedparser alone", out, re.MULTILINE)) == 2
    assert "median (min-max) over 2 round(s):" in out
    medians = r"sqlite first poll\s+[\d,]+ \([\d,]+-[\d,]+\) mentions/s, [\d.]+ \([\d.-]+\) cpu ms/mention"
    assert re.search(medians + r" \(\+ [\d.]+ \([\d.-]+\) in the parsers\)", out)
    assert re.search(r"lexicon classifier alone\s+[\d,]+ \([\d,]+-[\d,]+\) texts/s", out)
    assert re.search(
        r"first poll on SQLite >= 1,000 mentions/s\s+[\d,]+/s \([\d,]+-[\d,]+\)\s+(met|NOT met)$", out, re.M
    )
    for backend in backends:
        assert re.search(
            rf"SQL statements per new mention <= 3, {backend}\s+[\d.]+ \([\d.]+-[\d.]+\)\s+(met|NOT met)$", out, re.M
        )
    if len(backends) == 2:
        assert len(re.findall(r"postgres / sqlite first poll, back to back: \d+%", out)) == 2
        assert re.search(
            r"first poll on PostgreSQL within 30% of SQLite\s+\d+% \(\d+%-\d+%\)\s+(met|NOT met)$", out, re.M
        )
        assert re.search(r"the ratio of the median rates: \d+%", out)


@pytest.mark.model
def test_the_default_part_runs_the_pipeline_and_the_classifier_alone_in_both_orders() -> None:
    command = [sys.executable, str(ROOT / "bench" / "bench_ingest.py"), "--parts", "default", "--backends", "sqlite"]
    command += ["--default-feeds", "2", "--entries", "4", "--rounds", "2", "--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # Round 2 runs the classifier alone first, on the texts round 1's pipeline stored.
    rounds = re.findall(r"^\s+(\d)\s+[\d.]+\s+[\d,]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d,]+\s+[\d.]+\s+\d+%$", out, re.M)
    assert rounds == ["1", "2"]
    assert "(8 mentions a round" in out
    assert re.search(r"pipeline / classifier alone\s+\d+% \(\d+%-\d+%\) \(ratio of the median rates: \d+%\)", out)
    assert re.search(r"by CPU: classifier alone / pipeline\s+\d+% \(\d+%-\d+%\)", out)
    target = r"default classifier: pipeline >= 80% of the classifier alone\s+\d+% \(\d+%-\d+%\)\s+(met|NOT met)$"
    assert re.search(target, out, re.M)
