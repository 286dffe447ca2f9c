"""Operating commands: ``backup`` and ``restore`` of the configured database (see socialcrm/backup.py)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from socialcrm.cli.core_cmds import configure, opened
from socialcrm.db import redact_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``backup`` and ``restore``."""
    p = sub.add_parser(
        "backup",
        help="copy the database into a backup file while the daemon keeps running",
        description="SQLite: the online backup API (a consistent copy while the daemon writes). "
        "PostgreSQL: pg_dump --format=custom. The file is readable only by you.",
    )
    p.add_argument(
        "--output",
        metavar="PATH",
        help="file to write, or a folder for a time-stamped name (default: the current folder)",
    )
    p.add_argument(
        "--keep", type=int, metavar="N", help="with a folder: then delete all but the N newest backups there"
    )
    p.add_argument("--pg-bin", metavar="DIR", help="folder of pg_dump/pg_restore (default: PATH, then Debian's newest)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore",
        help="replace the database's contents with a backup (stop the daemon first)",
        description="Restores a file written by `socialcrm backup` into the configured database, replacing "
        "what is there, then migrates it to this version's schema. Stop the daemon first.",
    )
    p.add_argument("file", type=Path, metavar="FILE", help="a backup written by `socialcrm backup`")
    p.add_argument("--yes", action="store_true", help="do it (without --yes nothing changes)")
    p.add_argument("--pg-bin", metavar="DIR", help="folder of pg_dump/pg_restore (default: PATH, then Debian's newest)")
    p.set_defaults(func=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    """Back the configured database up into a file, then prune old backups with ``--keep``."""
    from socialcrm.backup import BackupError, backup, prune

    config = configure(args)
    if args.keep is not None and (args.keep < 1 or not (args.output and Path(args.output).is_dir())):
        print("socialcrm: --keep N needs N >= 1 and --output naming a folder", file=sys.stderr)
        return 2
    try:
        result = backup(config.database_url(), args.output, pg_bin=args.pg_bin)
    except BackupError as err:
        print(f"socialcrm: backup failed: {err}", file=sys.stderr)
        return 1
    print(
        f"Backup of {redact_url(config.database_url())} written to {result.path} "
        f"({result.size / 1e6:.1f} MB, {result.backend}, schema {result.revision})"
    )
    if args.keep:
        for old in prune(result.path.parent, args.keep):
            print(f"Deleted old backup {old}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the database's contents with a backup file (only with ``--yes``) and migrate it."""
    from socialcrm.backup import BackupError, kind_of_file, restore
    from socialcrm.models import Customer, Mention, Ticket, User

    config = configure(args)
    url = config.database_url()
    try:
        kind = kind_of_file(args.file)
    except BackupError as err:
        print(f"socialcrm: {err}", file=sys.stderr)
        return 2
    if not args.yes:
        made = datetime.fromtimestamp(args.file.stat().st_mtime, UTC).isoformat(timespec="minutes")
        print(
            f"socialcrm: this replaces everything in {redact_url(url)} with {args.file} ({kind} backup of {made}). "
            "Stop the daemon first, then add --yes to do it.",
            file=sys.stderr,
        )
        return 2
    try:
        revision = restore(url, args.file, pg_bin=args.pg_bin)
    except BackupError as err:
        print(f"socialcrm: restore failed: {err}", file=sys.stderr)
        return 1
    with opened(config, write=False, upgrade=False) as session:
        counts = {
            name: session.exec(select(func.count()).select_from(model)).one()
            for name, model in (("mentions", Mention), ("tickets", Ticket), ("customers", Customer), ("users", User))
        }
    found = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(f"Restored {args.file} into {redact_url(url)} (schema {revision}): {found}")
    return 0
