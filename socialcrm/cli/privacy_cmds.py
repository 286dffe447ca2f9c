"""``socialcrm privacy export|erase REF``: answer a data-protection request for one person."""

from __future__ import annotations

import argparse
import json
import sys

from socialcrm.cli.core_cmds import configure, opened


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``socialcrm privacy export|erase``."""
    privacy = sub.add_parser("privacy", help="export or erase everything held about one person (GDPR)")
    actions = privacy.add_subparsers(dest="privacy_command", metavar="ACTION")
    actions.required = True
    p = actions.add_parser("export", help="write everything stored about the person as JSON")
    p.add_argument("customer_ref", help="the person's customer_ref (as imported)")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=cmd_export)
    p = actions.add_parser("erase", help="erase the person's data, keeping pseudonymised statistics")
    p.add_argument("customer_ref", help="the person's customer_ref (as imported)")
    p.add_argument("--yes", action="store_true", help="do it (without --yes nothing changes)")
    p.set_defaults(func=cmd_erase)


def cmd_export(args: argparse.Namespace) -> int:
    """Print (or write) everything stored about one person as JSON."""
    from socialcrm.services.privacy import export_person

    with opened(configure(args), write=True) as session:
        document = export_person(session, args.customer_ref, actor="cli")
    text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase one person's personal data (only with --yes), keeping pseudonymised statistics."""
    from socialcrm.services.privacy import erase_person

    if not args.yes:
        print(
            f"socialcrm: this erases {args.customer_ref}'s personal data for good; add --yes to do it", file=sys.stderr
        )
        return 2
    with opened(configure(args), write=True) as session:
        counts = erase_person(session, args.customer_ref, actor="cli")
    print("Erased " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    return 0
