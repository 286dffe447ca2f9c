"""tools/run_tests.sh: each run gets its own PostgreSQL server, stopped when the run fails or is interrupted."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
HAS_DEBIAN_POSTGRES = any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))

pytestmark = pytest.mark.skipif(
    not HAS_DEBIAN_POSTGRES and not os.environ.get("SOCIALCRM_REQUIRE_POSTGRES"),
    reason="Debian's postgresql is not installed",
)

PROBE = """
import os, pathlib, time

def test_probe():
    out = pathlib.Path(os.environ["PROBE_DIR"])
    (out / "url.tmp").write_text(os.environ["SOCIALCRM_TEST_DATABASE_URL"])
    (out / "url.tmp").rename(out / "url")
    while not (out / "release").exists():
        time.sleep(0.1)
    assert False, "this run fails on purpose"
"""


def _start_run(tmp_path: Path, name: str) -> tuple[subprocess.Popen[str], Path]:
    probe_dir = tmp_path / name
    probe_dir.mkdir()
    (probe_dir / "pytest.ini").write_text("[pytest]\n")
    (probe_dir / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIALCRM_", "PGTEST_"))}
    env["PROBE_DIR"] = str(probe_dir)
    process = subprocess.Popen(
        [str(ROOT / "tools" / "run_tests.sh"), "-q", "-p", "no:cacheprovider", str(probe_dir)],
        cwd=probe_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a Ctrl-C can be imitated
        # A shell that starts with SIGINT ignored cannot trap it; a terminal's shell never does.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return process, probe_dir


def _wait_for_url(process: subprocess.Popen[str], probe_dir: Path) -> str:
    deadline = time.monotonic() + 180
    while not (probe_dir / "url").exists():
        if process.poll() is not None:
            pytest.fail(f"run ended before its test started:\n{process.stdout.read() if process.stdout else ''}")
        if time.monotonic() > deadline:
            pytest.fail("run did not reach its test within 180 s")
        time.sleep(0.1)
    return (probe_dir / "url").read_text()


def _accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = process.communicate(timeout=120)
    return process.returncode, output


def test_each_run_has_its_own_server_and_stops_it_when_failing_or_interrupted(tmp_path: Path) -> None:
    failing, failing_dir = _start_run(tmp_path, "failing")
    interrupted, interrupted_dir = _start_run(tmp_path, "interrupted")
    try:
        urls = [_wait_for_url(failing, failing_dir), _wait_for_url(interrupted, interrupted_dir)]
        ports = [make_url(url).port for url in urls]
        assert ports[0] != ports[1]
        assert 55432 not in ports  # the fixed port every clone used to share
        for url in urls:
            with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False)) as conn:
                assert conn.execute("select 1").fetchone() == (1,)

        (failing_dir / "release").write_text("")
        failing_code, failing_output = _finish(failing)
        os.killpg(interrupted.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        interrupted_code, interrupted_output = _finish(interrupted)
    finally:
        for process in (failing, interrupted):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    assert failing_code == 1, failing_output
    assert interrupted_code == 130, interrupted_output
    for port, output in zip(ports, (failing_output, interrupted_output), strict=True):
        server_dir = re.search(r"server in (\S+),", output)
        assert server_dir, output
        assert not Path(server_dir.group(1)).exists()
        assert not _accepts_connections(port)


def test_a_configured_server_is_used_as_given(tmp_path: Path) -> None:
    probe_dir = tmp_path / "given"
    probe_dir.mkdir()
    (probe_dir / "test_url.py").write_text(
        "import os\n\ndef test_url():\n"
        "    assert os.environ['SOCIALCRM_TEST_DATABASE_URL'] == 'postgresql+psycopg://example.invalid/x'\n"
    )
    (probe_dir / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIALCRM_", "PGTEST_"))}
    env["SOCIALCRM_TEST_DATABASE_URL"] = "postgresql+psycopg://example.invalid/x"
    result = subprocess.run(
        [str(ROOT / "tools" / "run_tests.sh"), "-q", "-p", "no:cacheprovider", str(probe_dir)],
        cwd=probe_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "server in" not in result.stdout
