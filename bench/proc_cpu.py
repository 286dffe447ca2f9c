"""CPU seconds of processes read from /proc (Linux): a process with its live descendants, and reaped children."""

from __future__ import annotations

import os
import resource
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3 of proc(5) is index 0)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (every thread's children list)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def cpu_seconds(pids: set[int], *, reaped: bool = False) -> float:
    """CPU time (user + system) used so far by the processes ``pids`` and all their live descendants.

    ``reaped`` adds the time of children that already ended and were waited for (PostgreSQL's backends:
    a connection's process ends when it closes, and its time moves to the postmaster's account).
    """
    total = 0.0
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = stat_fields(pid)
            total += (int(fields[11]) + int(fields[12])) / TICKS
            if reaped and pid in pids:
                total += (int(fields[13]) + int(fields[14])) / TICKS
            todo.extend(children(pid))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total


def children_cpu(exclude: set[int]) -> float:
    """CPU seconds of this process's children so far, with their descendants, except the children in ``exclude``
    (and theirs): the live ones from /proc, the ended ones this process waited for from getrusage.

    A difference of two readings is what the children used in between, also a child that ended and was
    reaped meanwhile (a feed parser retired after its jobs). ``exclude``: children that were there before
    (the bench's feed server), so only the ones started since count.
    """
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = {child for child in children(os.getpid()) if child not in exclude}
    return reaped.ru_utime + reaped.ru_stime + cpu_seconds(live)
