"""How many CPUs this process may use: its CPU affinity, capped by a cgroup CPU limit (a container's).

``os.cpu_count()`` counts the host's CPUs. A daemon pinned with ``taskset``, started in a cpuset, or
run in a container limited to one CPU (``docker run --cpus 1``: cgroup v2 ``cpu.max``, v1
``cpu.cfs_quota_us``) gets the time of that many CPUs only, and should size its work as a machine of
that many would. The cgroup limit of the process's own cgroup and of every cgroup above it counts
(the tightest wins), rounded up: 1.5 CPUs of time is enough for two busy processes to share.
An unreadable or malformed cgroup file means no limit rather than an error: a process that cannot
read its limit still runs, as it did with ``os.cpu_count()``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath

PROC_SELF = Path("/proc/self")


def usable_cpus(proc_self: Path = PROC_SELF) -> int:
    """The CPUs this process may run on (affinity), capped by its cgroup CPU limit rounded up; at least 1.

    ``proc_self`` is where ``cgroup`` and ``mountinfo`` are read (tests point it at a made-up tree).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform (macOS, Windows)
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(proc_self)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


def cgroup_cpu_limit(proc_self: Path = PROC_SELF) -> float | None:
    """CPUs' worth of time the process's cgroups allow (quota / period, the tightest on the way up), or None."""
    try:
        memberships = (proc_self / "cgroup").read_text(encoding="ascii", errors="replace")
        mounts = (proc_self / "mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    limits: list[float] = []
    for line in memberships.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not path.startswith("/"):
            continue
        if hierarchy == "0" and controllers == "":
            folder = _mount_of(mounts, "cgroup2", None, path)
            if folder is not None:
                limits += _limits_up(folder, _v2_limit)
        elif "cpu" in controllers.split(","):
            folder = _mount_of(mounts, "cgroup", "cpu", path)
            if folder is not None:
                limits += _limits_up(folder, _v1_limit)
    return min(limits, default=None)


def _mount_of(mountinfo: str, fstype: str, controller: str | None, path: str) -> tuple[Path, Path] | None:
    """(mount point, the cgroup's folder under it) for cgroup ``path``, from ``/proc/self/mountinfo``.

    A mount's root is where in the hierarchy the mount starts: ``/`` on a host and under a cgroup
    namespace, the container's own cgroup in a container without one (the process's path is below it).
    """
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        after = line.split(" - ", 1)[1].split()
        if len(after) < 3 or after[0] != fstype:
            continue
        if controller is not None and controller not in after[2].split(","):
            continue
        root, mount_point = PurePosixPath(_unescape(fields[3])), Path(_unescape(fields[4]))
        inside = PurePosixPath(path)
        if inside == root or root in inside.parents:
            return mount_point, mount_point.joinpath(*inside.relative_to(root).parts)
    return None


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (``\\040``)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _limits_up(mount: tuple[Path, Path], read: Callable[[Path], float | None]) -> list[float]:
    """The limit found in the cgroup's folder and in each folder above it, up to the mount point."""
    mount_point, folder = mount
    found: list[float] = []
    while True:
        limit = read(folder)
        if limit is not None:
            found.append(limit)
        if folder == mount_point or mount_point not in folder.parents:
            return found
        folder = folder.parent


def _v2_limit(folder: Path) -> float | None:
    """``cpu.max`` is "QUOTA PERIOD" in microseconds, or "max PERIOD" for none."""
    words = _read(folder / "cpu.max").split()
    if len(words) != 2 or words[0] == "max":
        return None
    return _ratio(words[0], words[1])


def _v1_limit(folder: Path) -> float | None:
    """``cpu.cfs_quota_us`` is -1 for none; the period is in ``cpu.cfs_period_us``."""
    return _ratio(_read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us"))


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return quota_us / period_us


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
