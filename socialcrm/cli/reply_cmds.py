"""Saved replies on the command line: list them, import a TOML file of them, export them in the same shape.

The file has one table per key, a title and one text per language, like ``[templates.NAME]``::

    [lieferung]
    title = "Delivery on its way"
    de = "Hallo {{ customer_name }}, Ihre Bestellung {{ order_number }} ist unterwegs."
    en = "Hi {{ customer_name }}, your order {{ order_number }} is on its way."

An import creates new replies and updates those whose key and language exist; a file with any bad
entry changes nothing and says which entry and why.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from socialcrm.cli.core_cmds import configure
from socialcrm.cli.crm_cmds import _actor
from socialcrm.db import open_database
from socialcrm.errors import InvalidInputError
from socialcrm.models import UI_LANGUAGES


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replies list|import|export``."""
    replies = sub.add_parser("replies", help="saved replies (canned responses) for the reply composer")
    rsub = replies.add_subparsers(dest="replies_command", metavar="ACTION")
    rsub.required = True
    p = rsub.add_parser("list", help="the saved replies, by key and language")
    p.add_argument("--language", choices=UI_LANGUAGES, help="only this language")
    p.set_defaults(func=cmd_list)
    p = rsub.add_parser("import", help="create or update saved replies from a TOML file (all or nothing)")
    p.add_argument("file", metavar="FILE.toml", help="one [KEY] table per reply: title, and a text per language")
    p.add_argument("--dry-run", action="store_true", help="check the file, store nothing")
    p.set_defaults(func=cmd_import)
    p = rsub.add_parser("export", help="write every saved reply as TOML (the import's shape)")
    p.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    p.set_defaults(func=cmd_export)


def read_file(path: str) -> list[Any]:
    """The entries of an import file; InvalidInputError naming the file, entry and field that is wrong."""
    from socialcrm.services.saved_replies import SavedReplyInput

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"{path}: cannot read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise InvalidInputError(f"{path}: TOML syntax error: {err}") from None
    rows = []
    for key, table in data.items():
        if not isinstance(table, Mapping):
            raise InvalidInputError(f'{path}: {key}: must be a table ([{key}] with title and de = "...", en = "...")')
        unknown = sorted(set(table) - {"title", *UI_LANGUAGES})
        if unknown:
            raise InvalidInputError(
                f"{path}: {key}: unknown key {unknown[0]!r} (allowed: title, {', '.join(UI_LANGUAGES)})"
            )
        texts = {lang: table[lang] for lang in UI_LANGUAGES if lang in table}
        if not texts:
            raise InvalidInputError(f"{path}: {key}: needs a text in at least one of {', '.join(UI_LANGUAGES)}")
        title = table.get("title", key)
        for language, text in texts.items():
            if not isinstance(text, str) or not isinstance(title, str):
                raise InvalidInputError(f"{path}: {key}.{language}: title and texts must be strings")
            rows.append(SavedReplyInput(key=key, language=language, title=title, text=text))
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    """Print one line per saved reply: /key, language, title and the start of its text."""
    from socialcrm.services import saved_replies

    config = configure(args)
    db = open_database(config, upgrade=True)
    try:
        with db.read() as session:
            rows = saved_replies.list_saved(session, args.language)
            if not rows:
                print("no saved replies")
            for saved in rows:
                text = " ".join(saved.text.split())
                print(f"/{saved.key} [{saved.language}] {saved.title}: {text[:80]}")
    finally:
        db.dispose()
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Create or update the file's saved replies in one transaction."""
    from socialcrm.services import saved_replies

    rows = read_file(args.file)
    config = configure(args)
    db = open_database(config, upgrade=True)

    class _DryRun(Exception):
        pass

    counts = (0, 0)
    try:
        with db.write() as session:
            counts = saved_replies.import_replies(session, rows, actor=_actor())
            if args.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    finally:
        db.dispose()
    verb = "would import" if args.dry_run else "imported"
    print(f"saved replies: {verb} {len(rows)} ({counts[0]} new, {counts[1]} changed)")
    return 0


def _toml_lines(rows: list[Any]) -> Iterator[str]:
    by_key: dict[str, list[Any]] = {}
    for saved in rows:
        by_key.setdefault(saved.key, []).append(saved)
    for key, group in by_key.items():
        yield f"[{key}]"
        yield f"title = {json.dumps(group[0].title, ensure_ascii=False)}"
        for saved in group:  # JSON's string escapes are TOML's basic-string escapes
            yield f"{saved.language} = {json.dumps(saved.text, ensure_ascii=False)}"
        yield ""


def cmd_export(args: argparse.Namespace) -> int:
    """Write every saved reply as TOML that ``replies import`` reads back."""
    from socialcrm.services import saved_replies

    config = configure(args)
    db = open_database(config, upgrade=True)
    try:
        with db.read() as session:
            text = "\n".join(_toml_lines(saved_replies.list_saved(session)))
    finally:
        db.dispose()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
