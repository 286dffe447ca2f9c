"""``socialcrm webhooks new-secret``: make a Standard Webhooks signing secret for a ``[[webhooks]]`` entry."""

from __future__ import annotations

import argparse

from socialcrm.webhooks import new_secret


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``socialcrm webhooks new-secret``."""
    hooks = sub.add_parser("webhooks", help="outbound webhooks: make a signing secret")
    actions = hooks.add_subparsers(dest="webhooks_command", metavar="ACTION")
    actions.required = True
    p = actions.add_parser(
        "new-secret",
        help="print a new whsec_ secret (32 random bytes) for a webhook's secret_env variable",
        description="Prints a Standard Webhooks secret. Put it into the variable the webhook's secret_env "
        "names and give the same text to the receiver, which verifies with a standardwebhooks library.",
    )
    p.set_defaults(func=cmd_new_secret)


def cmd_new_secret(args: argparse.Namespace) -> int:
    """Print one new secret."""
    print(new_secret())
    return 0
