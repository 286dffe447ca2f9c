"""Running it as a service: the systemd unit passes systemd-analyze, and the real daemon process speaks
the notify protocol, reloads rules on SIGHUP (keeping them when the new file is bad), and writes JSON
logs with an access log and secrets masked."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.core.test_daemon import make_feed, wait_for
from tests.replay_server import Canned, ReplayServer

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
UNIT = UNITS / "socialcrm.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (apt-get install systemd)"
)
SECRET = "hook-secret-4f9a1c77e2"
PASSWORD = "a-long-admin-password"

COMPLAINT_RULE = """
[[rules]]
name = "complaint-ticket"
[rules.when]
sentiment = ["negative"]
[[rules.then]]
action = "open_ticket"
team = "service"
"""
PRAISE_RULE = """
[[rules]]
name = "praise-tag"
[rules.when]
sentiment = ["positive"]
[[rules.then]]
action = "tag"
tags = ["praise"]
"""
BROKEN_RULE = """
[[rules]]
name = "broken"
[rules.when]
sentiment = ["furious"]
[[rules.then]]
action = "open_ticket"
"""


def service_config(base_url: str, rules: str) -> str:
    return f"""
[database]
url = "sqlite:///crm.db"
[web]
host = "127.0.0.1"
port = 0
access_log = true
[classifier]
kind = "lexicon"
[[sources]]
name = "acme-blog"
type = "feed"
url = "{base_url}/feed.xml"
interval = "1h"
[[webhooks]]
name = "bridge"
url = "{base_url}/hook"
secret_env = "HOOK_SECRET"
{rules}
"""


@needs_systemd
def test_unit_file_passes_systemd_analyze_verify_and_is_sandboxed(tmp_path: Path) -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "User=socialcrm",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ):
        assert line in text.splitlines(), line
    # verify checks that ExecStart exists: point it at this checkout's script, as an install would.
    script = Path(sys.executable).parent / "socialcrm"
    names = ["socialcrm.service", "socialcrm-backup.service", "socialcrm-backup.timer"]
    for name in names:
        (tmp_path / name).write_text((UNITS / name).read_text().replace("/opt/socialcrm/bin/socialcrm", str(script)))
    assert SYSTEMD_ANALYZE is not None
    verify = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *(str(tmp_path / name) for name in names)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    # An unknown or misspelt option is only a warning on stderr: it must not be there either.
    assert verify.returncode == 0 and not verify.stdout.strip() and not verify.stderr.strip(), verify.stderr
    for name in names[:2]:
        security = subprocess.run(
            [SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        match = re.search(rf"Overall exposure level for {re.escape(name)}: ([\d.]+) (\w+)", security.stdout)
        assert match, security.stdout + security.stderr
        # systemd's own scale: below 2.0 is "OK"/"SAFE"; a unit without sandboxing scores 9.6 ("UNSAFE").
        assert float(match.group(1)) < 2.0 and match.group(2) in ("OK", "SAFE"), match.group(0)


class NotifySocket:
    """The service manager's end of sd_notify: a datagram socket that also learns each sender's pid."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="sn-")  # short: a Unix socket path has at most 107 bytes
        self.path = os.path.join(self.folder, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.setblocking(False)
        self.messages: list[tuple[int, dict[str, str]]] = []

    def drain(self) -> None:
        while True:
            try:
                data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except BlockingIOError:
                return
            pid = 0
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((pid, fields))

    async def wait_for(self, key: str, count: int = 1, timeout: float = 90) -> list[tuple[int, dict[str, str]]]:
        def seen() -> bool:
            self.drain()
            return sum(1 for _, fields in self.messages if key in fields) >= count

        assert await wait_for(seen, timeout), f"no {key} (#{count}) in {self.messages}"
        return [m for m in self.messages if key in m[1]]

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


async def _login(http: aiohttp.ClientSession, url: str) -> None:
    async with http.get(f"{url}/login") as page:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    async with http.post(
        f"{url}/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
    ) as response:
        assert response.status == 303, await response.text()


async def _rules_page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/admin/rules") as page:
        assert page.status == 200
        return await page.text()


async def test_daemon_notifies_systemd_reloads_on_sighup_and_logs_json(
    tmp_path: Path, replay: ReplayServer, notify_socket: NotifySocket
) -> None:
    replay.add("GET", "/feed.xml", Canned(200, make_feed(1), {"Content-Type": "application/rss+xml"}))
    config = tmp_path / "socialcrm.toml"
    config.write_text(service_config(replay.base_url, COMPLAINT_RULE))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    env["HOOK_SECRET"] = SECRET
    add_user = subprocess.run(
        [sys.executable, "-m", "socialcrm", "user", "add", "admin", "--role", "admin"],
        input=PASSWORD + "\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert add_user.returncode == 0, add_user.stderr
    # The JSON format comes from the environment, as a unit's Environment= line would set it.
    env.update({"NOTIFY_SOCKET": notify_socket.path, "SOCIALCRM_DAEMON__LOG_FORMAT": "json"})
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "socialcrm", "run", cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    try:
        ready = await notify_socket.wait_for("READY")
        pid, fields = ready[0]
        assert pid == proc.pid, "READY=1 must come from the main process (NotifyAccess=main)"
        url = re.search(r"web app at (http://\S+)", fields["STATUS"]).group(1)  # type: ignore[union-attr]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{url}/healthz") as health:
                assert health.status == 200
            async with http.get(f"{url}/login", params={"next": f"/queue?x={SECRET}"}) as page:
                assert page.status == 200
            await _login(http, url)
            assert "complaint-ticket" in await _rules_page(http, url)

            config.write_text(service_config(replay.base_url, COMPLAINT_RULE + BROKEN_RULE))
            proc.send_signal(signal.SIGHUP)
            await notify_socket.wait_for("READY", count=2)
            assert await wait_for(lambda: "failed; the 1 rule(s) in force stay" in log.read_text(), 30)
            page = await _rules_page(http, url)
            assert "complaint-ticket" in page and "broken" not in page

            config.write_text(service_config(replay.base_url, COMPLAINT_RULE + PRAISE_RULE))
            proc.send_signal(signal.SIGHUP)
            await notify_socket.wait_for("READY", count=3)
            assert "praise-tag" in await _rules_page(http, url)
            assert proc.returncode is None, "the reload must not restart the process"
        assert await wait_for(lambda: '"source": "acme-blog"' in log.read_text(), 60), log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0
    notify_socket.drain()
    sequence = [next(iter(fields)) for _, fields in notify_socket.messages]
    assert sequence == ["READY", "RELOADING", "READY", "RELOADING", "READY", "STOPPING"], notify_socket.messages
    assert all(pid == proc.pid for pid, _ in notify_socket.messages)

    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "source", "message"} <= record.keys() for record in records)
    failed = [r for r in records if "failed; the 1 rule(s) in force stay" in r["message"]]
    assert failed[0]["level"] == "ERROR" and "rules[1].when.sentiment" in failed[0]["message"]
    assert any(r["message"].startswith("Reloaded 2 rule(s)") for r in records)
    polled = [r for r in records if r["source"] == "acme-blog" and r["logger"] == "socialcrm.poller"]
    assert polled and "40 new" in polled[0]["message"]
    access = [r for r in records if r["logger"] == "socialcrm.access"]
    assert {"/healthz", "/admin/rules"} <= {r["http"]["path"] for r in access}
    assert any(r["http"]["user"] == "admin" and r["http"]["status"] == 200 for r in access)
    assert SECRET not in text and any("**********" in r["http"]["path"] for r in access)


QUESTION_TAG_RULE = """
[[rules]]
name = "question-tag"
[rules.when]
query = "wie"
[[rules.then]]
action = "tag"
tags = ["question"]
"""


async def test_reload_puts_new_rules_into_the_pipeline_and_a_bad_file_changes_nothing(
    tmp_path: Path, replay: ReplayServer
) -> None:
    from sqlmodel import select

    from socialcrm.config import load_config
    from socialcrm.daemon import Daemon
    from socialcrm.models import Mention
    from socialcrm.runtime import Runtime

    replay.add("GET", "/feed.xml", Canned(200, make_feed(1), {"Content-Type": "application/rss+xml"}))
    path = tmp_path / "socialcrm.toml"
    path.write_text(service_config(replay.base_url, COMPLAINT_RULE).replace("port = 0", "port = 0\nenabled = false"))
    runtime = await Runtime.open(load_config(path, environ={"HOOK_SECRET": SECRET}))
    daemon = Daemon(runtime)
    try:
        before = runtime.pipeline.ruleset
        path.write_text(path.read_text() + BROKEN_RULE)
        assert await daemon.reload() is False
        assert runtime.pipeline.ruleset is before and [r.name for r in before.rules] == ["complaint-ticket"]

        path.write_text(path.read_text().replace(BROKEN_RULE, QUESTION_TAG_RULE).replace('"1h"', '"2h"'))
        assert await daemon.reload() is True
        assert [r.name for r in runtime.pipeline.ruleset.rules] == ["complaint-ticket", "question-tag"]
        assert daemon.config.source("acme-blog").interval == "1h", "source changes wait for a restart"
        (result,) = await runtime.poll_once()
        assert result.new == 40 and result.tickets > 0
        with runtime.db.read() as session:
            tagged = [m for m in session.exec(select(Mention)).all() if "question" in m.tags]
        assert len(tagged) == sum(1 for i in range(40) if (1 + i) % 3 == 1)
    finally:
        await runtime.close()
