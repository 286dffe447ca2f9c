"""A worker or daemon with the word-list classifier never loads torch or transformers (about 5 CPU s per start)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What `socialcrm run` and `socialcrm worker` do at start, up to their first poll: the command line,
# the daemon, worker and web app modules, and a Runtime (classifier, rules, label enricher) on a fresh database.
START = """
import asyncio, json, sys
import socialcrm.cli, socialcrm.cli.serve_cmds, socialcrm.daemon, socialcrm.jobs.worker, socialcrm.web.app
from socialcrm.config import parse_config
from socialcrm.runtime import Runtime

async def start():
    config = parse_config('[database]\\nurl = "sqlite:///' + sys.argv[1] + '"\\n[classifier]\\nkind = "lexicon"\\n')
    runtime = await Runtime.open(config)
    try:
        runtime.classifier.analyse(["Der Support war großartig", "the app keeps crashing"])
    finally:
        await runtime.close()

asyncio.run(start())
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))))
"""


def test_a_lexicon_process_does_not_import_torch(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", START, str(tmp_path / "crm.db")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert heavy == [], f"imported at start: {heavy[:10]}"
