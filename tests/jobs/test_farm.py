"""The worker farm the worker tests stand on: a worker that dies on its own is not lost from view."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.jobs.farm import Workers, wait_for


async def test_stop_all_reports_a_worker_that_exited_on_its_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A real worker that refuses to start: `socialcrm worker` on SQLite exits 2 at once.
    (tmp_path / "socialcrm.toml").write_text(f'[database]\nurl = "sqlite:///{tmp_path / "crm.db"}"\n')
    workers = Workers(tmp_path)
    [proc] = await workers.start(1)
    assert await wait_for(lambda: proc.returncode is not None, 60)
    with caplog.at_level("WARNING", logger="tests.jobs.farm"):
        codes = await workers.stop_all()
    assert codes == [2]
    assert f"worker 0 (pid {proc.pid}) had exited on its own with code 2" in caplog.text
    assert "needs a PostgreSQL database" in workers.log()
