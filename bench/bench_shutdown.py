"""Benchmark: how long `socialcrm run` takes to stop after SIGINT, with the embedded model loaded.

Starts the real daemon (default classifier, web app on a free port, no sources) in a temporary
folder, waits until it listens, sends SIGINT and prints, per run and as the median, the seconds
from the signal to the "Stopped" log line and from "Stopped" to the process's exit.

    .venv/bin/python bench/bench_shutdown.py [--runs 3] [--signal INT|TERM]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = '[database]\nurl = "sqlite:///crm.db"\n[web]\nhost = "127.0.0.1"\nport = 0\n[classifier]\nkind = "default"\n'


def wait_for_text(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"no {text!r} in the log:\n{log.read_text(errors='replace')}")
        time.sleep(0.005)
    return time.monotonic()


def one_run(folder: Path, signum: signal.Signals) -> tuple[float, float]:
    (folder / "socialcrm.toml").write_text(CONFIG)
    log = folder / "daemon.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "socialcrm", "--config", str(folder / "socialcrm.toml"), "run"],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_text(log, "log in at", process, 300)
            time.sleep(2)  # let start-up settle
            sent = time.monotonic()
            process.send_signal(signum)
            stopped = wait_for_text(log, "Stopped", process, 120)
            process.wait(120)
            exited = time.monotonic()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return stopped - sent, exited - stopped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--signal", choices=["INT", "TERM"], default="INT")
    args = parser.parse_args()
    signum = signal.Signals[f"SIG{args.signal}"]
    to_stopped, to_exit = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="socialcrm-bench-shutdown-") as folder:
            stop_s, exit_s = one_run(Path(folder), signum)
        to_stopped.append(stop_s)
        to_exit.append(exit_s)
        print(f"run {run + 1}: SIG{args.signal} -> Stopped {stop_s:.2f} s, Stopped -> exit {exit_s:.2f} s", flush=True)
    print(
        f"median of {args.runs}: SIG{args.signal} -> Stopped {statistics.median(to_stopped):.2f} s, "
        f"Stopped -> exit {statistics.median(to_exit):.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
