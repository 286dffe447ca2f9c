"""Profiles a benchmark's worker process with yappi (CPU clock, every thread) when BENCH_YAPPI_OUT is set.

bench/bench_workers.py --profile DIR puts this folder first on the workers' PYTHONPATH; Python imports
``sitecustomize`` at start, and at exit each worker (and each of its feed-parsing children) writes
DIR/process-PID.pstat (read it with ``python -m pstats``). yappi comes with the ``profile`` extra:
``pip install -e '.[profile]'``.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path

OUT = os.environ.get("BENCH_YAPPI_OUT")

if OUT:
    import yappi

    yappi.set_clock_type("cpu")
    yappi.start(builtins=False, profile_threads=True)

    def _save() -> None:
        yappi.stop()
        yappi.get_func_stats().save(str(Path(OUT) / f"process-{os.getpid()}.pstat"), type="pstat")

    atexit.register(_save)
