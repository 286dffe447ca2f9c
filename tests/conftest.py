"""Shared fixtures: the replay server and real databases (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from socialcrm.db import Database
from tests.replay_server import ReplayServer

PG_ENV = "SOCIALCRM_TEST_DATABASE_URL"
CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config: pytest.Config) -> None:
    """In CI a missing PostgreSQL, Chromium or systemd-analyze is an error, not a quietly skipped test."""
    if os.environ.get("SOCIALCRM_REQUIRE_POSTGRES") and not os.environ.get(PG_ENV):
        raise pytest.UsageError(f"SOCIALCRM_REQUIRE_POSTGRES is set but {PG_ENV} is not")
    if os.environ.get("SOCIALCRM_REQUIRE_BROWSER") and not os.path.exists(CHROMIUM):
        raise pytest.UsageError(f"SOCIALCRM_REQUIRE_BROWSER is set but {CHROMIUM} is missing")
    if os.environ.get("SOCIALCRM_REQUIRE_SYSTEMD") and not shutil.which("systemd-analyze"):
        raise pytest.UsageError("SOCIALCRM_REQUIRE_SYSTEMD is set but systemd-analyze is missing (install systemd)")


@pytest.fixture(autouse=True)
def _root_logging_put_back() -> Iterator[None]:
    """A test that runs the CLI in-process leaves no log handler behind.

    ``setup_logging`` puts a stderr handler on the root logger; in a test that stderr is pytest's
    capture, closed when the test ends, so every later log line printed "--- Logging error ---" and
    a traceback (from any thread, e.g. a local SMTP server's) into other tests' output.
    """
    root = logging.getLogger()
    handlers, level = set(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def replay() -> AsyncIterator[ReplayServer]:
    """A fresh replay server on 127.0.0.1 for one test."""
    server = ReplayServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def _database_params() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgres",
            id="postgres",
            marks=pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set"),
        ),
    ]


class _PostgresTemplate:
    """Creates one migrated template database per test session; each test clones it (fast)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name: str | None = None

    def admin_engine(self):  # type: ignore[no-untyped-def]
        url = make_url(self.admin_url).set(database="postgres")
        return create_engine(url, isolation_level="AUTOCOMMIT")

    def template(self) -> str:
        if self.name is None:
            name = f"socialcrm_tmpl_{uuid.uuid4().hex[:8]}"
            engine = self.admin_engine()
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            engine.dispose()
            db = Database(make_url(self.admin_url).set(database=name).render_as_string(hide_password=False))
            db.upgrade()
            db.dispose()
            self.name = name
        return self.name

    def clone(self) -> str:
        name = f"socialcrm_t_{uuid.uuid4().hex[:10]}"
        engine = self.admin_engine()
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template()}"'))
        engine.dispose()
        return name

    def drop(self, name: str) -> None:
        engine = self.admin_engine()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[_PostgresTemplate | None]:
    url = os.environ.get(PG_ENV)
    if not url:
        yield None
        return
    tmpl = _PostgresTemplate(url)
    yield tmpl
    if tmpl.name:
        tmpl.drop(tmpl.name)


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path, _pg_template) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A URL of an empty, migrated database: a SQLite file, and a PostgreSQL clone in CI."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        db = Database(url)
        db.upgrade()
        db.dispose()
        yield url
        return
    assert _pg_template is not None
    name = _pg_template.clone()
    yield make_url(_pg_template.admin_url).set(database=name).render_as_string(hide_password=False)
    _pg_template.drop(name)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An open, migrated Database (SQLite, and PostgreSQL when SOCIALCRM_TEST_DATABASE_URL is set)."""
    database = Database(database_url)
    yield database
    database.dispose()
