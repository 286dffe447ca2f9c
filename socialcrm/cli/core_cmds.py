"""Core commands: init, check-config, run, poll, export, db, sources; the helpers every command uses."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlmodel import Session

from socialcrm.cli.tables import format_table
from socialcrm.config import Config, find_config_path, load_config, url_password
from socialcrm.db import open_database, redact_url
from socialcrm.errors import ConfigError, InvalidInputError
from socialcrm.logs import secret_values, setup_logging


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add init, check-config, run, poll, export, db and sources."""
    p = sub.add_parser("init", help="write a starter config and create the database")
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")
    p.add_argument(
        "--database-url",
        metavar="URL",
        help="write this [database] url into the new config (default: sqlite:///socialcrm.db next to it)",
    )
    p.add_argument(
        "--licence",
        choices=["commercial", "research"],
        default="commercial",
        help="sentiment adapter set: commercial (data that allows commercial use; default) or research "
        "(more data, non-commercial use only)",
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("check-config", help="validate the config and report every problem at once")
    p.add_argument(
        "--show-origin",
        action="store_true",
        help="also print every option in force and where it came from: env:VARIABLE, file:PATH or default",
    )
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("run", help="run the daemon (scheduler, outbox and web app) until SIGTERM/SIGINT")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("poll", help="poll sources once and print a summary per source")
    p.add_argument("--once", action="store_true", help="one cycle (the default; kept for scripts)")
    p.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")
    p.add_argument("--force", action="store_true", help="poll even if the source is paused or backing off")
    p.set_defaults(func=cmd_poll)

    p = sub.add_parser("export", help="write stored records to stdout")
    p.add_argument("kind", choices=["mentions", "tickets", "drafts", "customers"], help="what to export")
    p.add_argument(
        "--format", choices=["jsonl", "csv"], default="jsonl", help="JSON Lines (default) or CSV with a header row"
    )
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument(
        "--delimiter",
        choices=[",", ";", "tab"],
        help="CSV field separator: ',' (the default), ';' (German Excel) or tab",
    )
    p.add_argument("--bom", action="store_true", help="start the CSV with a UTF-8 byte order mark (for Excel)")
    p.add_argument(
        "--excel",
        action="store_true",
        help="CSV for Excel: a byte order mark and the separator of [web] default_language (';' for de, ',' for en); "
        "--delimiter overrides the separator",
    )
    p.set_defaults(func=cmd_export)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", metavar="ACTION")
    db.required = True
    p = db.add_parser("upgrade", help="migrate the database to the newest schema (Alembic)")
    p.set_defaults(func=cmd_db_upgrade)
    p = db.add_parser("current", help="print the schema revision")
    p.set_defaults(func=cmd_db_current)

    p = sub.add_parser("sources", help="list sources with their state; pause or resume one")
    p.add_argument(
        "action", nargs="?", choices=["list", "pause", "resume"], default="list", help="what to do (default: list)"
    )
    p.add_argument("name", nargs="?", help="the source to pause or resume (its name in the config)")
    p.set_defaults(func=cmd_sources)


def configure(args: argparse.Namespace) -> Config:
    """Load the config, print its warnings, set up logging with secrets masked."""
    config = load_config(args.config)
    setup_logging(args.log_level or config.daemon.log_level, config_secrets(config), config.daemon.log_format)
    for warning in config.warnings:
        if config.daemon.log_format == "json":  # one JSON object per line on stderr, warnings included
            logging.getLogger("socialcrm.config").warning("%s", warning)
        else:
            print(f"socialcrm: warning: {warning}", file=sys.stderr)
    return config


def config_secrets(config: Config) -> list[str]:
    """Values the log must never show: every ``*_env`` secret and a password written into the database URL."""
    password = url_password(config.database_url())
    return [*secret_values(config.raw), *([password] if password else [])]


@contextmanager
def opened(config: Config, *, write: bool, upgrade: bool = True) -> Iterator[Session]:
    """A session on the configured database for one command, closed afterwards."""
    db = open_database(config, upgrade=upgrade)
    try:
        with db.write() if write else db.read() as session:
            yield session
    finally:
        db.dispose()


def cmd_init(args: argparse.Namespace) -> int:
    """Write a starter config (unless one exists), create or upgrade the database, and say what to do next."""
    path = find_config_path(args.config)
    if path.exists() and not args.force:
        if args.database_url:
            print(f"socialcrm: {path} exists; --database-url applies to a new config only", file=sys.stderr)
            return 2
        print(f"socialcrm: {path} exists; keeping it (use --force to overwrite)", file=sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        starter = resources.files("socialcrm").joinpath("starter_config.toml").read_text(encoding="utf-8")
        if args.database_url:
            starter = re.sub(
                r'^url = "sqlite:///socialcrm.db"',
                lambda _: f"url = {json.dumps(args.database_url)}",
                starter,
                count=1,
                flags=re.M,
            )
        starter = re.sub(r'^licence = "commercial"', f'licence = "{args.licence}"', starter, count=1, flags=re.M)
        path.write_text(starter, encoding="utf-8")
        print(f"Wrote {path} (sentiment adapter set: {args.licence})")
    config = configure(args)
    db = open_database(config, upgrade=True)
    print(f"Database ready: {redact_url(config.database_url())}")
    db.dispose()
    command = invoked_as() + (f" --config {args.config}" if args.config else "")
    disabled = [s.name for s in config.sources if not s.enabled]
    print("Next:")
    if len(disabled) == 1:
        print(f"  - The source {disabled[0]} is disabled until you enable it: edit it in {path}")
        print("    (a feed needs its url) and set enabled = true.")
    elif disabled:
        print(f"  - The sources {', '.join(disabled)} are disabled until you enable them: edit them in {path}")
        print("    (a feed needs its url) and set enabled = true.")
    print(f"  - {command} check-config")
    print(f"  - {command} user add NAME --role admin")
    web = config.web.public_url or f"http://{config.web.host}:{config.web.port}"
    print(f"  - {command} run" + (f"    (then log in at {web.rstrip('/')}/login)" if config.web.enabled else ""))
    return 0


def invoked_as() -> str:
    """How to type this command again: ``socialcrm`` when that is on PATH, else the path it was run by."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "socialcrm":
        return "python -m socialcrm"
    on_path = shutil.which("socialcrm")
    if on_path and Path(on_path).resolve() == argv0.resolve():
        return "socialcrm"
    return str(argv0)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config: every problem at once (exit 2), else a summary and, on request, each value's origin."""
    path = find_config_path(args.config)
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"{path}: {len(err.problems)} problem(s):", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    for warning in [*config.warnings, *rule_label_warnings(config)]:
        print(f"warning: {warning}", file=sys.stderr)
    enabled = sum(1 for s in config.sources if s.enabled)
    print(f"{path}: OK ({len(config.sources)} sources, {enabled} enabled; {len(config.rules)} rules)")
    if args.show_origin:
        print(f"# environment (SOCIALCRM_SECTION__KEY) over file ({path}) over default")
        print_origins(config)
    return 0


def rule_label_warnings(config: Config) -> list[str]:
    """The labels enabled rules name that the database does not have switched on (what the daemon warns about at start).

    Labels live in the database, not the config: the check reads it, never creates or upgrades it, and
    says so when it cannot (no database yet, unreachable, or a schema without labels).
    """
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from socialcrm.db import Database
    from socialcrm.errors import DatabaseError
    from socialcrm.models import CustomLabel, table_of
    from socialcrm.rules.loader import compile_rules
    from socialcrm.services.label_predictions import rule_label_problems

    ruleset = compile_rules(list(config.rules), config.templates, webhooks={w.name for w in config.webhooks})
    labels_by_rule = ruleset.labels_by_rule
    if not labels_by_rule:
        return []
    url = config.database_url()
    not_checked = "the labels that rules name were not checked"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(str(parsed.database)).exists():
            return [f"{not_checked}: the database {parsed.database} does not exist yet (`socialcrm init` creates it)"]
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # A server that does not answer must not hold up a config check for minutes.
        url = parsed.update_query_dict({"connect_timeout": "10"}).render_as_string(hide_password=False)
    try:
        db = Database(url)
    except DatabaseError as err:
        return [f"{not_checked}: {err}"]
    shown = redact_url(config.database_url())
    try:
        with db.read() as session:
            if not inspect(session.connection()).has_table(table_of(CustomLabel).name):
                return [f"{not_checked}: the database {shown} has no labels yet (`socialcrm db upgrade` adds them)"]
            return [str(problem) for problem in rule_label_problems(session, labels_by_rule)]
    except SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        return [f"{not_checked}: cannot read the database {shown}: {reason}"]
    finally:
        db.dispose()


def print_origins(config: Config) -> None:
    """One line per option: where it came from, its path and the value in force (passwords masked)."""
    from socialcrm.config_env import effective_values

    rows = effective_values(config)
    width = min(max((len(origin) for _, _, origin in rows), default=0), 48)
    for path, value, origin in rows:
        if path == "database.url":
            value = redact_url(str(value))
        shown = json.dumps(value, ensure_ascii=False, default=str)
        print(f"{origin:<{width}}  {path} = {shown}")


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM or SIGINT."""
    from socialcrm.daemon import run_daemon

    config = configure(args)
    return asyncio.run(run_daemon(config))


def cmd_poll(args: argparse.Namespace) -> int:
    """Poll the enabled (or the named) sources once, then deliver the outbox; a line per source, exit 1 on a failure."""
    from socialcrm.runtime import Runtime, keep_startup_objects_out_of_gc

    config = configure(args)
    names = args.source
    if names:
        for name in names:
            config.source(name)

    async def go() -> list[Any]:
        runtime = await Runtime.open(config, lazy_classifier=True)  # loaded only if a new post needs it
        keep_startup_objects_out_of_gc()
        try:
            results = await runtime.poll_once(names, force=args.force)
            await runtime.retry_failed()
            await runtime.outbox.run_once()
            return results
        finally:
            await runtime.close()

    results = asyncio.run(go())
    rows = []
    for r in results:
        note = r.error or r.skipped_reason or ("not modified" if r.not_modified else "")
        if r.tickets or r.drafts:
            note = (note + "; " if note else "") + f"{r.tickets} ticket(s), {r.drafts} draft(s)"
        if r.filtered:
            note = (note + "; " if note else "") + f"{r.filtered} left out by keep_only"
        rows.append([r.source, r.fetched, r.new, r.duplicates, r.errors, note])
    headers = ["source", "fetched", "new", "dupes", "errors", "note"]
    print("\n".join(format_table(headers, rows, numeric=headers[1:5])))
    failed = any(r.error is not None for r in results)
    if not results:
        print("(no enabled sources)")
    return 1 if failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write mentions, tickets, drafts or customers as JSON Lines or CSV."""
    from socialcrm.services.exports import DELIMITERS, EXPORTS, CsvStyle, write_csv, write_jsonl

    config = configure(args)
    db = open_database(config, upgrade=False)
    rows_fn, fields = EXPORTS[args.kind]
    style = CsvStyle.for_spreadsheet(config.web.default_language) if args.excel else CsvStyle()
    if args.delimiter or args.bom:
        style = CsvStyle(DELIMITERS[args.delimiter] if args.delimiter else style.delimiter, style.bom or args.bom)
    if style != CsvStyle() and args.format != "csv":
        raise InvalidInputError("--excel, --delimiter and --bom are for --format csv")
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        with db.read() as session:
            rows = rows_fn(session)
            count = write_csv(rows, out, fields, style) if args.format == "csv" else write_jsonl(rows, out)
    finally:
        if args.output:
            out.close()
        db.dispose()
    print(f"exported {count} {args.kind}", file=sys.stderr)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the database to the newest schema."""
    config = configure(args)
    db = open_database(config, upgrade=True)
    print(f"Database at revision {db.current_revision()}: {redact_url(config.database_url())}")
    db.dispose()
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    """Print the database's schema revision."""
    config = configure(args)
    db = open_database(config, upgrade=False)
    print(db.current_revision() or "(empty database: run `socialcrm db upgrade`)")
    db.dispose()
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    """List the sources with their state, or pause or resume one."""
    from socialcrm.services.queue import queue_status
    from socialcrm.services.sources import describe_sources, set_paused

    config = configure(args)
    db = open_database(config, upgrade=True)
    try:
        if args.action in ("pause", "resume"):
            if not args.name:
                print(f"socialcrm: sources {args.action} needs a source name", file=sys.stderr)
                return 2
            config.source(args.name)
            with db.write() as session:
                set_paused(session, config.source(args.name), args.action == "pause", actor="cli")
            print(f"{args.name} {'paused' if args.action == 'pause' else 'resumed'}")
            return 0
        with db.read() as session:
            rows = describe_sources(session, config, datetime.now(UTC))
            queue = queue_status(session, config.workers.stalled_seconds)
    finally:
        db.dispose()
    headers = ["source", "type", "state", "last success", "fetched", "new", "errors", "retrying", "last error"]
    cells = [
        [r.name, r.type, r.state_text, r.last_success or "never", r.fetched, r.new, r.errors, r.retrying, r.last_error]
        for r in rows
    ]
    if queue.available:  # on PostgreSQL: which worker polls what now, and what waits
        headers.insert(4, "poll job")
        for r, row in zip(rows, cells, strict=True):
            row.insert(4, _poll_job_text(queue.sources.get(r.name)))
    print("\n".join(format_table(headers, cells, numeric=["fetched", "new", "errors", "retrying"])))
    if any(r.retrying for r in rows):
        print("Mentions whose linking or rules failed are retried; `socialcrm retries` shows why.")
    if queue.available:
        print()
        print(queue.summary())
        for worker in queue.workers:
            health = "alive" if worker.alive else f"no heartbeat since {_hms(worker.last_heartbeat)}: stalled"
            print(f"  worker {worker.name} ({worker.role}): {worker.running} job(s) running, {health}")
    return 0


def _hms(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%SZ") if moment else "?"


def _poll_job_text(job: Any) -> str:
    """A source's poll job in a few words: where it runs, or when it is due."""
    if job is None:
        return "-"
    if job.state == "running":
        return f"polling on {job.worker} since {_hms(job.at)}"
    if job.state == "stalled":
        return f"stalled on {job.worker} (no heartbeat): retried soon"
    if job.state == "scheduled":
        return f"next at {_hms(job.at)}"
    return "waiting for a worker"
