"""Examples shown at the end of ``socialcrm COMMAND --help``, one list per command, kept in one place.

tests/core/test_cli_help.py walks the parser tree: every command needs an entry here and every
example must parse with the real parser, so an example cannot drift from the options it shows.
An example is a command line, optionally fed by a pipe and followed by ``# what it does``.
"""

from __future__ import annotations

import argparse
import re

EXAMPLES: dict[str, list[str]] = {
    "init": [
        "socialcrm init",
        "socialcrm init --licence research  # the sentiment set for non-commercial use",
        "socialcrm --config /etc/socialcrm/socialcrm.toml init --database-url sqlite:////var/lib/socialcrm/socialcrm.db",
    ],
    "check-config": [
        "socialcrm check-config",
        "socialcrm check-config --show-origin  # each value and where it came from (file, environment, default)",
    ],
    "run": ["SOCIALCRM_WEB__PORT=8081 socialcrm run  # any option can come from the environment"],
    "worker": [
        "socialcrm worker  # with PostgreSQL: start one on each machine, as many as you like",
        "socialcrm worker --concurrency 16  # I/O-bound sources: more polls at once",
    ],
    "web": ["socialcrm web  # the web app alone; `socialcrm worker` processes poll and send"],
    "poll": ["socialcrm poll --source acme-blog --force  # poll one source now, even if it is backing off"],
    "export": [
        "socialcrm export tickets --format csv --output tickets.csv",
        "socialcrm export mentions --format csv --excel --delimiter ';' --output erwaehnungen.csv  # German Excel",
    ],
    "user": ["echo 'a-long-password' | socialcrm user add alice --role admin", "socialcrm user list"],
    "user add": [
        "echo 'a-long-password' | socialcrm user add alice --role admin --language de",
        "socialcrm user add anna --role community --display-name 'Anna Schmidt'  # replies sign as Anna Schmidt",
        "socialcrm user add bob --role community --replace  # asks for a new password, resets the role",
    ],
    "user list": ["socialcrm user list"],
    "user set-role": ["socialcrm user set-role bob service"],
    "user set-timezone": [
        "socialcrm user set-timezone anna Europe/Berlin  # the web app shows her times in German local time",
        "socialcrm user set-timezone anna ''  # back to her browser's time zone",
    ],
    "user set-name": [
        "socialcrm user set-name bob 'Bob Meier'  # {{ agent_name }} in his replies",
        "socialcrm user set-name bob ''  # back to the login name",
    ],
    "user disable": ["socialcrm user disable bob"],
    "user enable": ["socialcrm user enable bob"],
    "user token": [
        "socialcrm user token alice --label reporting  # printed once; send as 'Authorization: Bearer'",
        "socialcrm user token alice --label dashboard --expires 30d --read-only  # GET only, gone in 30 days",
    ],
    "db": ["socialcrm db current", "socialcrm db upgrade"],
    "db upgrade": ["socialcrm db upgrade  # after installing a new version, before starting it"],
    "db current": ["socialcrm db current"],
    "sources": ["socialcrm sources", "socialcrm sources pause acme-blog"],
    "retries": [
        "socialcrm retries  # mentions whose linking or rules failed, and why",
        "socialcrm retries run  # try them all again now",
        "socialcrm retries dismiss 4711 4712",
    ],
    "demo": ["socialcrm demo --dir /tmp/socialcrm-demo --port 8090"],
    "customers": ["socialcrm customers import customers.csv --dry-run", "socialcrm customers merge-candidates"],
    "customers import": [
        "socialcrm customers import customers.csv --map customer_ref=Kundennummer --map email=E-Mail --dry-run"
    ],
    "customers merge-candidates": ["socialcrm customers merge-candidates --no-detect"],
    "customers merge": ["socialcrm customers merge K-1001 K-1042  # K-1042 is merged into K-1001"],
    "customers dismiss": ["socialcrm customers dismiss 17"],
    "orders": ["socialcrm orders import orders.csv"],
    "orders import": ["socialcrm orders import orders.csv --delimiter ';' --map order_number=Bestellnummer"],
    "links": ["socialcrm links review", "socialcrm links confirm 12"],
    "links review": ["socialcrm links review --limit 20"],
    "links confirm": ["socialcrm links confirm 12"],
    "links reject": ["socialcrm links reject 12"],
    "replies": ["socialcrm replies import saved-replies.toml --dry-run", "socialcrm replies list --language de"],
    "replies list": ["socialcrm replies list --language de"],
    "replies import": ['socialcrm replies import saved-replies.toml  # [KEY] tables: title, de = "...", en = "..."'],
    "replies export": ["socialcrm replies export --output saved-replies.toml"],
    "rules": ["socialcrm rules test --since 2026-03-01", "socialcrm rules explain 4711"],
    "rules explain": ["socialcrm rules explain 4711"],
    "rules test": ["socialcrm rules test --since 2026-03-01 --source acme-blog --verbose  # changes nothing"],
    "classify": ["socialcrm classify --input posts.jsonl --model lexicon > labelled.jsonl"],
    "classifier": ["socialcrm classifier eval", "socialcrm classifier train --output my-heads.safetensors"],
    "classifier train": [
        "socialcrm classifier train --output my-heads.safetensors --include-corrections",
        "socialcrm classifier train --licence commercial --cross-validate potts-train --l2 0.03 --output x.safetensors",
    ],
    "classifier eval": [
        "socialcrm classifier eval --model my-heads.safetensors --json",
        "socialcrm classifier eval --licence research  # a packaged set; in-sample texts are marked",
    ],
    "labels": ["socialcrm labels import --starter", "socialcrm labels train", "socialcrm labels on churn"],
    "labels list": ["socialcrm labels list"],
    "labels define": ["socialcrm labels define bug-report --title 'Bug report' --threshold 0.6"],
    "labels mark": [
        "socialcrm labels mark bug-report 4711 4712  # these mentions report a bug",
        "socialcrm labels mark bug-report 4713 --not  # and this one does not",
    ],
    "labels add": ["socialcrm labels add bug-report 'Die App stürzt beim Bezahlen ab'"],
    "labels import": [
        "socialcrm labels import --starter  # churn and purchase-intent, German and English",
        "socialcrm labels import my-labels.toml  # [name] tables: title, threshold, positive = [...], negative = [...]",
    ],
    "labels train": [
        "socialcrm labels train  # every label; prints cross-validated precision and recall",
        "socialcrm labels train churn --features words  # a bag of words instead of sentence vectors",
    ],
    "labels on": ["socialcrm labels on churn purchase-intent"],
    "labels off": ["socialcrm labels off churn"],
    "labels backfill": ["socialcrm labels backfill churn --limit 10000  # the newest 10,000 mentions"],
    "backup": [
        "socialcrm backup --output /var/lib/socialcrm/backups --keep 14  # daily from a timer: two weeks kept",
        "socialcrm backup --output before-upgrade.sqlite3",
    ],
    "restore": ["socialcrm restore /var/lib/socialcrm/backups/socialcrm-20261130-020000Z.sqlite3 --yes"],
    "privacy": ["socialcrm privacy export K-1001 --output k-1001.json", "socialcrm privacy erase K-1001 --yes"],
    "privacy export": ["socialcrm privacy export K-1001 --output k-1001.json"],
    "privacy erase": ["socialcrm privacy erase K-1001 --yes"],
    "webhooks": ["socialcrm webhooks new-secret  # then SOCIALCRM_WEBHOOK_SECRET=whsec_... for secret_env"],
    "webhooks new-secret": ["socialcrm webhooks new-secret > /etc/socialcrm/webhook.secret"],
}


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose like argparse does but keeps indented lines (the examples) exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for block in text.split("\n\n"):
            if any(line.startswith("  ") for line in block.splitlines()):
                blocks.append("\n".join(indent + line for line in block.splitlines()))
            else:
                blocks.append(super()._fill_text(block, width, indent))
        return "\n\n".join(blocks)


def command_line(example: str) -> str:
    """The ``socialcrm ...`` part of an example: without a feeding pipe, output redirection or comment."""
    line = re.sub(r"\s+#\s.*$", "", example)
    line = line.split("|")[-1]
    line = re.sub(r"\s+>\s*\S+$", "", line)
    return line[line.index("socialcrm") :].strip()


def subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every (``"user add"``, parser) below ``parser``, depth first."""
    found: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((" ".join((*path, name)), sub))
                found.extend(subcommands(sub, (*path, name)))
    return found


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Put each command's examples into its ``--help`` epilog."""
    for name, sub in subcommands(parser):
        examples = EXAMPLES.get(name)
        if not examples:
            continue
        sub.formatter_class = HelpFormatter
        heading = "example:" if len(examples) == 1 else "examples:"
        sub.epilog = heading + "\n" + "\n".join(f"  {line}" for line in examples)
