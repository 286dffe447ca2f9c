"""Run every benchmark in bench/ in turn and print their figures (`make bench`).

Each runs with its defaults: the issue-14 benches (bench_ingest.py, bench_workers.py) measure 3 rounds
and judge their targets on the medians (bench/rounds.py). How long each script took is printed after it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)])
        print(f"== {script.name} took {(time.perf_counter() - started) / 60:.1f} min", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
