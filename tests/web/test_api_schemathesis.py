"""Schemathesis against the live API on 127.0.0.1: every operation of the OpenAPI document, every check."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from socialcrm.config import parse_config
from socialcrm.services import auth
from socialcrm.web.app import create_app
from tests.web.seed import make_users, make_world

# A bounded run for `make test`; SOCIALCRM_SCHEMATHESIS_EXAMPLES raises it for a longer search.
MAX_EXAMPLES = int(os.environ.get("SOCIALCRM_SCHEMATHESIS_EXAMPLES", "25"))


async def test_schemathesis_finds_no_failures(aiohttp_server, db, tmp_path: Path):  # type: ignore[no-untyped-def]
    make_users(db)
    make_world(db)
    with db.write() as s:
        token = auth.create_api_token(s, "admin", "schemathesis", actor="test")
    server = await aiohttp_server(create_app(parse_config(""), db), host="127.0.0.1", port=0)
    st = Path(sys.executable).with_name("st")
    process = await asyncio.create_subprocess_exec(
        str(st),
        "run",
        f"http://127.0.0.1:{server.port}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "1",
        "--workers",
        "1",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report
