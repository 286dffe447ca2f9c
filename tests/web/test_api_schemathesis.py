"""Schemathesis against the live API on 127.0.0.1: every operation of the OpenAPI document, every check."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import defaultdict
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from socialcrm.config import parse_config
from socialcrm.services import auth, drafts
from socialcrm.web.api.openapi import openapi_document
from socialcrm.web.app import create_app
from tests.web.seed import add_mention, make_users, make_world

# A bounded run for `make test`; SOCIALCRM_SCHEMATHESIS_EXAMPLES raises it for a longer search.
MAX_EXAMPLES = int(os.environ.get("SOCIALCRM_SCHEMATHESIS_EXAMPLES", "25"))


async def test_schemathesis_finds_no_failures(aiohttp_server, db, tmp_path: Path):  # type: ignore[no-untyped-def]
    make_users(db)
    make_world(db)
    with db.write() as s:  # pending drafts enough for approvals and rejections both to find one
        for i in range(12):
            drafts.create_draft(s, mention=add_mention(s, f"Frage {i}?"), text="Danke!", language="de", rule="r")
    with db.write() as s:
        token = auth.create_api_token(s, "admin", "schemathesis", actor="test")
    app = create_app(parse_config(""), db)
    answered: dict[str, set[int]] = defaultdict(set)

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)  # errors are raised past this, so only handled requests count
        info = request.match_info.route.resource
        answered[f"{request.method} {info.canonical if info else request.path}"].add(response.status)
        return response

    app.middlewares.append(record)
    server = await aiohttp_server(app, host="127.0.0.1", port=0)
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
        "--generation-database",
        "none",
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
    # Not a run of 401s and 404s: every operation of the document was answered with a 200 at least once.
    operations = {
        f"{method.upper()} /api/v1{path.replace('{id}', '{id}')}"
        for path, methods in openapi_document()["paths"].items()
        for method in methods
    }
    answered_ok = {
        operation.replace(r"{id:\d+}", "{id}") for operation, statuses in answered.items() if 200 in statuses
    }
    assert operations <= answered_ok, (sorted(operations - answered_ok), report)
