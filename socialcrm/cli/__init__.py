"""The ``socialcrm`` command line: argparse with one module per command group.

Each module in COMMAND_MODULES has ``register(subparsers)``; every subcommand sets ``func(args)``
returning the exit code: 0 success, 2 usage or configuration error, 1 runtime failure. ``main``
turns the application's, the classifiers' and the connectors' errors into one line on stderr and
that exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from classifiers.base import ClassifierError
from socialcrm import __version__
from socialcrm.cli.examples import HelpFormatter, add_examples
from socialcrm.errors import ConfigError, DatabaseError, InvalidInputError, SocialCRMError

COMMAND_MODULES = [
    "core_cmds",
    "user_cmds",
    "serve_cmds",
    "demo_cmds",
    "crm_cmds",
    "reply_cmds",
    "classifier_cmds",
    "label_cmds",
    "privacy_cmds",
    "ops_cmds",
    "webhook_cmds",
    "retry_cmds",
]
logger = logging.getLogger("socialcrm.cli")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options and every command group's subcommands, with examples."""
    parser = argparse.ArgumentParser(
        prog="socialcrm",
        description="Self-hosted social CRM: listen to feeds and networks, classify, link, "
        "open tickets and reply drafts.",
        epilog="examples:\n  socialcrm init\n  socialcrm check-config\n  socialcrm run\n\n"
        "`socialcrm COMMAND --help` shows a command's options and an example.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"socialcrm {__version__}", help="print the version and exit"
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $SOCIALCRM_CONFIG, else ./socialcrm.toml)",
    )
    parser.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override [daemon].log_level"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"socialcrm.cli.{name}")
        module.register(subparsers)
    add_examples(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``socialcrm`` script and ``python -m socialcrm``."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return int(args.func(args))
    except (ConfigError, InvalidInputError) as err:
        print(f"socialcrm: {err}", file=sys.stderr)
        return 2
    except DatabaseError as err:
        print(f"socialcrm: database error: {err}", file=sys.stderr)
        return 1
    except SocialCRMError as err:
        print(f"socialcrm: {err}", file=sys.stderr)
        return 1
    except ClassifierError as err:
        print(f"socialcrm: classifier: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("socialcrm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:
        # Imported only here: connectors.base pulls in aiohttp, which most commands never load.
        from connectors.base import ConnectorError

        if not isinstance(err, ConnectorError):
            raise
        print(f"socialcrm: source {err}", file=sys.stderr)  # the message starts with the source's name
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
