"""Commands for the processes that split the daemon's work on PostgreSQL: ``worker`` and ``web``.

``socialcrm run`` (core_cmds.py) still does everything in one process. With a PostgreSQL database,
``socialcrm worker`` takes polls, sends and housekeeping from the job queue (any number of them, on
any machines) and ``socialcrm web`` serves the web app alone.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys

from sqlalchemy.engine import make_url

from socialcrm.cli.core_cmds import configure
from socialcrm.config import Config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``worker`` and ``web`` commands."""
    p = sub.add_parser(
        "worker",
        help="take polls, replies, webhooks and housekeeping from the job queue (PostgreSQL; run any number)",
        description="A worker of the job queue in the PostgreSQL database: it polls the sources that are due, "
        "posts approved replies, sends webhooks and keeps house, no web app. Start as many as you like on as many "
        "machines as you like, all with the same config; a source is never polled by two at once, and the jobs of "
        "a worker that dies are taken over after [workers] stalled_after. On SQLite use `socialcrm run`.",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="jobs this worker runs at once (default: [workers] concurrency, 8)",
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "web",
        help="serve the web app alone, without polling or sending (beside `socialcrm worker`s)",
        description="Serves the web app from [web] and does nothing else: with PostgreSQL, workers "
        "(`socialcrm worker`) poll and send. On SQLite `socialcrm run` serves the web app itself; "
        "this command then only adds a second web process.",
    )
    p.set_defaults(func=cmd_web)


def uses_sqlite(config: Config) -> bool:
    """True when the configured database is a SQLite file (no job queue)."""
    return make_url(config.database_url()).get_backend_name() == "sqlite"


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a queue worker until SIGTERM/SIGINT (PostgreSQL only; exit 2 on SQLite)."""
    from socialcrm.daemon import run_daemon

    config = configure(args)
    if uses_sqlite(config):
        print(
            "socialcrm: `worker` needs a PostgreSQL database; this config uses SQLite, where one process does "
            "all the work: run `socialcrm run` instead (README: Scaling out)",
            file=sys.stderr,
        )
        return 2
    if args.concurrency is not None:
        if not 1 <= args.concurrency <= 256:
            print("socialcrm: --concurrency must be between 1 and 256", file=sys.stderr)
            return 2
        workers = config.workers.model_copy(update={"concurrency": args.concurrency})
        config = dataclasses.replace(config, workers=workers)
    return asyncio.run(run_daemon(config, role="worker"))


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the web app alone until SIGTERM/SIGINT."""
    from socialcrm.daemon import run_daemon

    config = configure(args)
    return asyncio.run(run_daemon(config, role="web"))
