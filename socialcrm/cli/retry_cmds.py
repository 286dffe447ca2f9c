"""``socialcrm retries``: mentions whose linking or rules failed, listed, retried now or dismissed."""

from __future__ import annotations

import argparse
import getpass
import sys

from socialcrm.cli.core_cmds import configure
from socialcrm.cli.tables import format_table
from socialcrm.db import open_database
from socialcrm.models import utcnow
from socialcrm.rules.loader import compile_rules
from socialcrm.services import ingest, retries


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``retries`` command."""
    p = sub.add_parser(
        "retries",
        help="mentions whose linking or rules failed: list, retry now or dismiss",
        description="A mention whose linking or rules failed is stored without links or actions and "
        "retried later (after 1 min, 5 min, 30 min, 2 h, then every 6 h) until it goes through or "
        "someone dismisses it. The daemon retries due ones by itself.",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["list", "run", "dismiss"],
        default="list",
        help="list (default); run: retry every waiting mention now; dismiss: stop retrying the given mentions",
    )
    p.add_argument("mention_ids", nargs="*", type=int, metavar="MENTION_ID", help="mentions to dismiss")
    p.add_argument("--all", action="store_true", help="list also the mentions someone dismissed")
    p.set_defaults(func=cmd_retries)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (OSError, KeyError):
        return "cli"


def cmd_retries(args: argparse.Namespace) -> int:
    """``socialcrm retries [list|run|dismiss]``: show, retry now, or stop retrying failed mentions."""
    config = configure(args)
    db = open_database(config, upgrade=True)
    try:
        if args.action == "dismiss":
            if not args.mention_ids:
                print("socialcrm: retries dismiss needs one or more mention ids", file=sys.stderr)
                return 2
            with db.write() as session:
                done = retries.dismiss(session, args.mention_ids, actor=_actor(), now=utcnow())
            print(f"dismissed {len(done)} mention(s)" + (f": {', '.join(map(str, done))}" if done else ""))
            return 0
        if args.action == "run":
            ruleset = compile_rules(list(config.rules), config.templates, webhooks={w.name for w in config.webhooks})
            now = utcnow()
            with db.write() as session:
                waiting = retries.due(session, now, all_waiting=True)
                processed = ingest.process_each(session, waiting, config, ruleset, now)
            print(
                f"retried {len(waiting)} mention(s): {len(processed.done)} went through, {len(processed.failed)} failed"
            )
            return 1 if processed.failed else 0
        with db.read() as session:
            rows = retries.waiting(session, include_dismissed=args.all)
    finally:
        db.dispose()
    if not rows:
        print("No mention waits for a retry.")
        return 0
    table = format_table(
        ["mention", "source", "tries", "first failed", "next try", "error"],
        [
            [
                r.mention_id,
                r.source,
                r.attempts,
                r.first_failed_at.strftime("%Y-%m-%d %H:%M"),
                f"dismissed by {r.dismissed_by}" if r.dismissed_by else r.next_attempt_at.strftime("%Y-%m-%d %H:%M"),
                r.error[:160],
            ]
            for r in rows
        ],
        numeric=["mention", "tries"],
    )
    print("\n".join(table))
    return 0
