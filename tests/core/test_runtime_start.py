"""What a runtime starts with it: the daemon's starts the feed parser processes, a one-shot poll's does not."""

from __future__ import annotations

from pathlib import Path

from connectors.feed_pool import get_parser_pool, shutdown_parser_pool
from socialcrm.config import parse_config
from socialcrm.runtime import Runtime
from tests.connectors.test_feed_pool import is_running


async def test_the_daemons_runtime_starts_the_feed_parsers_and_a_one_shot_poll_leaves_them(tmp_path: Path) -> None:
    config = parse_config(
        f'[database]\nurl = "sqlite:///{tmp_path / "crm.db"}"\n[classifier]\nkind = "lexicon"\n'
        '[[sources]]\nname = "blog"\ntype = "feed"\nurl = "http://127.0.0.1:9/feed.xml"\n'
    )
    shutdown_parser_pool()
    one_shot = await Runtime.open(config, lazy_classifier=True)  # as `socialcrm poll --once`
    try:
        assert get_parser_pool().pids() == []  # nothing fetched yet: no parser process
    finally:
        await one_shot.close()
    daemon = await Runtime.open(config, start_shared=True)  # as `socialcrm run` and `socialcrm worker`
    try:
        started = get_parser_pool().pids()
        assert len(started) == get_parser_pool().size and all(is_running(pid) for pid in started)
    finally:
        await daemon.close()
    assert not any(is_running(pid) for pid in started)  # closing the runtime stops them
