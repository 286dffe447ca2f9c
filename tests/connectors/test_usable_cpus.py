"""usable_cpus: a container's CPU limit (cgroup v1 and v2, read from a made-up /proc and cgroup tree) and a
real CPU affinity (a child process pinned to one CPU) size the feed parser pool and the classify-in-parsers
decision as on a machine of that many CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors import usable_cpus
from connectors._cpus import cgroup_cpu_limit

ROOT = Path(__file__).resolve().parents[2]


def fake_proc(tmp: Path, memberships: str, mounts: list[str]) -> Path:
    proc = tmp / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(memberships)
    (proc / "mountinfo").write_text("".join(f"{line}\n" for line in mounts))
    return proc


def write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text + "\n")


def v2_mount(point: Path, root: str = "/") -> str:
    return f"36 25 0:30 {root} {point} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate"


def v1_mount(point: Path, root: str = "/") -> str:
    return f"32 31 0:29 {root} {point} rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct"


def affinity() -> int:
    return len(os.sched_getaffinity(0))


def test_cgroup_v2_the_tightest_limit_on_the_way_up_counts(tmp_path: Path) -> None:
    mount = tmp_path / "sys" / "fs" / "cgroup"
    write(mount / "kubepods" / "pod1", cpu_max="100000 100000")  # the pod: one CPU
    write(mount / "kubepods" / "pod1" / "app", cpu_max="max 100000")  # the container itself: no limit
    proc = fake_proc(tmp_path, "0::/kubepods/pod1/app\n", [v2_mount(mount)])
    assert cgroup_cpu_limit(proc) == 1.0
    assert usable_cpus(proc) == 1

    write(mount / "kubepods" / "pod1" / "app", cpu_max="50000 100000")  # half a CPU: still one process's worth
    assert cgroup_cpu_limit(proc) == 0.5
    assert usable_cpus(proc) == 1


def test_cgroup_v2_under_a_cgroup_namespace_and_a_fraction_rounded_up(tmp_path: Path) -> None:
    mount = tmp_path / "cg"
    write(mount, cpu_max="150000 100000")  # docker run --cpus 1.5, seen from inside its namespace
    proc = fake_proc(tmp_path, "0::/\n", [v2_mount(mount)])
    assert cgroup_cpu_limit(proc) == 1.5
    assert usable_cpus(proc) == min(2, affinity())


def test_cgroup_v1_cfs_quota_in_a_container_whose_mount_starts_at_its_own_cgroup(tmp_path: Path) -> None:
    cpu = tmp_path / "sys" / "fs" / "cgroup" / "cpu,cpuacct"
    write(cpu, cpu_cfs_quota_us="100000", cpu_cfs_period_us="100000")
    memberships = "11:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n"
    other = f"40 31 0:38 /docker/abc {tmp_path / 'memory'} rw - cgroup cgroup rw,memory"
    proc = fake_proc(tmp_path, memberships, [other, v1_mount(cpu, root="/docker/abc")])
    assert cgroup_cpu_limit(proc) == 1.0
    assert usable_cpus(proc) == 1

    write(cpu, cpu_cfs_quota_us="-1", cpu_cfs_period_us="100000")  # v1's "no limit"
    assert cgroup_cpu_limit(proc) is None
    assert usable_cpus(proc) == affinity()


def test_a_host_path_with_a_space_in_its_mount_point(tmp_path: Path) -> None:
    mount = tmp_path / "cgroup v1" / "cpu"
    write(mount / "system.slice" / "socialcrm.service", cpu_cfs_quota_us="100000", cpu_cfs_period_us="100000")
    escaped = str(mount).replace(" ", "\\040")  # how mountinfo writes it
    line = f"32 31 0:29 / {escaped} rw,relatime - cgroup cgroup rw,cpu"
    proc = fake_proc(tmp_path, "3:cpu:/system.slice/socialcrm.service\n", [line])
    assert usable_cpus(proc) == 1


@pytest.mark.parametrize(
    "cpu_max",
    ["max 100000", "", "garbage", "0 100000", "100000 0", "100000"],
    ids=["no-limit", "empty", "garbage", "zero-quota", "zero-period", "one-word"],
)
def test_no_limit_or_an_unreadable_one_leaves_the_affinity(tmp_path: Path, cpu_max: str) -> None:
    mount = tmp_path / "cg"
    write(mount, cpu_max=cpu_max)
    proc = fake_proc(tmp_path, "0::/\n", [v2_mount(mount)])
    assert cgroup_cpu_limit(proc) is None
    assert usable_cpus(proc) == affinity()


def test_no_proc_or_a_cgroup_outside_every_mount_is_no_limit(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path / "absent") is None
    mount = tmp_path / "cg"
    write(mount, cpu_max="100000 100000")
    proc = fake_proc(tmp_path, "0::/elsewhere\n", [v2_mount(mount, root="/mine")])
    assert cgroup_cpu_limit(proc) is None


PINNED_CHILD = """
import os, sys, types
os.sched_setaffinity(0, {int(cpu) for cpu in sys.argv[1:]})  # as taskset -c would, before anything is sized
from connectors import usable_cpus
from connectors.feed_pool import ParserPool
from socialcrm.runtime import _beside
config = types.SimpleNamespace(daemon=types.SimpleNamespace(classify_in_parsers=True))
recipe = object()
print(usable_cpus(), ParserPool().size, _beside(recipe, config) is recipe)
"""


def run_pinned(cpus: set[int]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PINNED_CHILD, *map(str, cpus)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.split()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_a_process_pinned_to_one_cpu_sizes_the_pool_and_classifies_as_on_one_core() -> None:
    first = min(os.sched_getaffinity(0))
    assert run_pinned({first}) == ["1", "1", "False"]  # taskset -c N: one parser, the daemon classifies itself


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or affinity() < 2, reason="needs 2 CPUs to pin to")
def test_a_process_on_two_cpus_classifies_in_the_parsers() -> None:
    two = set(sorted(os.sched_getaffinity(0))[:2])
    limit = cgroup_cpu_limit()
    if limit is not None and limit <= 1:
        pytest.skip(f"this machine's cgroup allows {limit} CPU")
    assert run_pinned(two) == ["2", "2", "True"]
