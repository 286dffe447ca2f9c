"""A migrated PostgreSQL database of its own for each worker test (the job queue exists only there)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_ENV


@pytest.fixture
def pg_url(_pg_template) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The URL of an empty, migrated PostgreSQL database (the test is skipped without a server)."""
    if not os.environ.get(PG_ENV) or _pg_template is None:
        pytest.skip(f"{PG_ENV} not set: workers need PostgreSQL")
    name = _pg_template.clone()
    yield make_url(_pg_template.admin_url).set(database=name).render_as_string(hide_password=False)
    _pg_template.drop(name)
