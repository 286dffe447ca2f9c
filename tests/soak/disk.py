"""A disk that fills up under the SQLite file: a small tmpfs where mounting is allowed, else RLIMIT_FSIZE.

A tmpfs of a few MiB mounted for the test (root, or CAP_SYS_ADMIN, is needed) behaves like any
full disk: every write that needs a new block fails with ENOSPC, in every process, and deleting
the filler frees the space again. Where mounting is not allowed (an unprivileged CI runner), the
closest real alternative is used: the file-size limit (RLIMIT_FSIZE, set with prlimit on the
daemon and on ``poll --once``), under which a file cannot grow and a write past its end fails with
EFBIG (Python ignores SIGXFSZ), which SQLite reports like a full disk. Its weakness: SQLite may
still write where a file already has room (a write-ahead log rewound after a checkpoint), so
fewer writes fail than on a really full disk. ``SOCIALCRM_SOAK_DISK=rlimit`` forces it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SmallDisk:
    """The folder for the SQLite file, and how it is made to run full."""

    path: Path
    how: str  # "tmpfs" or "RLIMIT_FSIZE"
    full: bool = False

    def fill(self, pid: int) -> None:
        """No more room: fill the tmpfs up, or stop the daemon's files from growing."""
        self.full = True
        if self.how == "tmpfs":
            chunk = b"\1" * 4096
            with (self.path / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
                while True:
                    filler.write(chunk)
            return
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (self._largest(), resource.RLIM_INFINITY))

    def free(self, pid: int) -> None:
        """Room again."""
        self.full = False
        if self.how == "tmpfs":
            (self.path / "filler").unlink()
            return
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    def limit_child(self) -> Callable[[], None] | None:
        """A ``preexec_fn`` for a process started while the disk is full (needed for RLIMIT_FSIZE only)."""
        if self.how == "tmpfs" or not self.full:
            return None
        size = self._largest()
        return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))

    def _largest(self) -> int:
        return max((p.stat().st_size for p in self.path.iterdir() if p.is_file()), default=0)


@contextlib.contextmanager
def small_disk(path: Path, size_mib: int) -> Iterator[SmallDisk]:
    """A folder on a ``size_mib`` MiB tmpfs (unmounted afterwards), or a plain folder under RLIMIT_FSIZE."""
    path.mkdir(parents=True, exist_ok=True)
    if os.environ.get("SOCIALCRM_SOAK_DISK") != "rlimit":
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if mounted.returncode == 0:
            try:
                yield SmallDisk(path, "tmpfs")
            finally:
                subprocess.run(["umount", "-l", str(path)], check=False)
            return
        print(f"tmpfs cannot be mounted here ({mounted.stderr.strip()}); using RLIMIT_FSIZE instead")
    yield SmallDisk(path, "RLIMIT_FSIZE")
