"""``socialcrm user set-timezone``: the zone a user's web app shows times in, checked and audited."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from socialcrm.db import Database
from socialcrm.models import AuditEntry, User
from tests.core.test_cli import run


async def test_set_timezone_checks_the_name_and_is_audited(tmp_path: Path) -> None:
    await run(tmp_path, "init")
    await run(tmp_path, "user", "add", "anna", "--role", "community", stdin="correct horse battery\n")
    code, out, err = await run(tmp_path, "user", "set-timezone", "anna", "Europe/Berlin")
    assert code == 0 and "anna sees times in Europe/Berlin" in out, err
    code, _, err = await run(tmp_path, "user", "set-timezone", "anna", "Europe/Bxl")
    assert code == 2 and "'Europe/Bxl' is not an IANA time zone name" in err
    code, _, err = await run(tmp_path, "user", "set-timezone", "nobody", "UTC")
    assert code == 1 and "no user named 'nobody'" in err
    db = Database(f"sqlite:///{tmp_path / 'socialcrm.db'}")
    with db.read() as session:
        assert session.exec(select(User).where(User.username == "anna")).one().time_zone == "Europe/Berlin"
        details = [e.detail for e in session.exec(select(AuditEntry)) if e.action == "user.update"]
    assert {"time_zone": {"from": None, "to": "Europe/Berlin"}} in details
    code, out, _ = await run(tmp_path, "user", "set-timezone", "anna", "")
    assert code == 0 and "browser's time zone" in out
    with db.read() as session:
        assert session.exec(select(User).where(User.username == "anna")).one().time_zone is None
    db.dispose()
