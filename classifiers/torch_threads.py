"""Per-thread torch settings: lanes, threads that each run torch on one core, side by side.

torch splits every operation over its intra-op threads, which meet at a barrier when the operation
ends. On a machine whose cores also do other work (storing the posts just classified), a core taken
by that work for a few milliseconds holds up every operation both threads share. Two lanes of one
thread each, classifying different batches, lose only the time actually taken, and need no barrier
at all. With OpenMP (torch's Linux and Windows builds) the thread count is a setting of the calling
thread; ``one_thread_here`` uses that to give one thread a single intra-op thread while the rest of
the process keeps the count it had.
"""

from __future__ import annotations

import threading


def one_thread_here() -> None:
    """Run this thread's torch operations on one thread; other threads (and new ones) keep the process's count."""
    import torch

    process_wide = torch.get_num_threads()  # also settles this thread's own setting before it changes
    if process_wide == 1:
        return
    torch.set_num_threads(1)  # this thread's setting, and the process-wide count new threads start from
    restore = threading.Thread(target=torch.set_num_threads, args=(process_wide,), name="torch-threads")
    restore.start()  # from another thread, so the process-wide count returns and this thread keeps 1
    restore.join()


def lanes_available() -> int:
    """How many one-thread lanes this process can run: its torch thread count where the setting is per thread, else 1.

    Checked on a probe thread: it must run on one thread afterwards while the caller and a newly started
    thread still see the process's count (not so with torch's native thread pool, whose count is shared).
    """
    import torch

    wanted = torch.get_num_threads()
    if wanted <= 1:
        return 1
    seen: dict[str, int] = {}

    def probe() -> None:
        one_thread_here()
        seen["lane"] = torch.get_num_threads()

    def fresh() -> None:
        seen["fresh"] = torch.get_num_threads()

    for target in (probe, fresh):
        thread = threading.Thread(target=target, name="torch-threads-probe")
        thread.start()
        thread.join()
    per_thread = seen == {"lane": 1, "fresh": wanted} and torch.get_num_threads() == wanted
    return wanted if per_thread else 1
