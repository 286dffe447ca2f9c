"""Fixtures for the insights tests: the server's zone is UTC here, wherever the tests run."""

from __future__ import annotations

from tests.web.conftest import server_in_utc  # noqa: F401  (an autouse fixture: e-mails name the server's zone)
