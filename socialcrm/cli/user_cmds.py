"""User commands: add, list, set-role, set-name, set-timezone, disable, enable, and API tokens."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime, timedelta

from socialcrm.cli.core_cmds import configure, invoked_as, opened
from socialcrm.durations import parse_duration
from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError, SocialCRMError
from socialcrm.models import ROLES, UI_LANGUAGES


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``socialcrm user ACTION``."""
    user = sub.add_parser("user", help="manage web app users").add_subparsers(dest="user_command", metavar="ACTION")
    user.required = True
    p = user.add_parser("add", help="add a user (password from stdin or a prompt)")
    p.add_argument("name", help="login name")
    p.add_argument("--role", required=True, choices=ROLES, help="what the user may do in the web app")
    p.add_argument("--language", choices=UI_LANGUAGES, help="web app language (default: [web] default_language)")
    p.add_argument(
        "--display-name", metavar="NAME", help="the name replies are signed with, {{ agent_name }} (default: login)"
    )
    p.add_argument("--replace", action="store_true", help="reset role and password of an existing user")
    p.set_defaults(func=cmd_user_add)
    p = user.add_parser("list", help="list users and roles")
    p.set_defaults(func=cmd_user_list)
    p = user.add_parser("set-role", help="change a user's role")
    p.add_argument("name", help="login name")
    p.add_argument("role", choices=ROLES, help="the new role")
    p.set_defaults(func=cmd_user_set_role)
    p = user.add_parser("set-name", help="set the name a user signs replies with ({{ agent_name }})")
    p.add_argument("name", help="login name")
    p.add_argument("display_name", metavar="DISPLAY_NAME", help='e.g. "Anna Schmidt"; "" goes back to the login name')
    p.set_defaults(func=cmd_user_set_name)
    p = user.add_parser("set-timezone", help="set the time zone the web app shows a user's times in")
    p.add_argument("name", help="login name")
    p.add_argument(
        "time_zone",
        metavar="ZONE",
        help="an IANA name such as Europe/Berlin; \"\" goes back to the browser's (else the server's)",
    )
    p.set_defaults(func=cmd_user_set_time_zone)
    p = user.add_parser("disable", help="disable a user's login")
    p.add_argument("name", help="login name")
    p.set_defaults(func=cmd_user_disable, disabled=True)
    p = user.add_parser("enable", help="enable a user's login")
    p.add_argument("name", help="login name")
    p.set_defaults(func=cmd_user_disable, disabled=False)
    p = user.add_parser("token", help="create an API token for /api/v1 (printed once)")
    p.add_argument("name", help="login name of the token's owner")
    p.add_argument("--label", default="cli", help="a note telling tokens apart (default: cli)")
    p.add_argument(
        "--expires",
        type=_duration,
        metavar="DURATION",
        help="the token stops working after this long (e.g. 30d, 12h, 2w; default: until revoked)",
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        help="the token may only read (GET); requests that change something get 403",
    )
    p.set_defaults(func=cmd_user_token)


def _duration(text: str) -> timedelta:
    """``--expires`` as a timedelta; argparse reports a bad one with exit code 2."""
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _read_password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise SocialCRMError("no password on stdin")
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise SocialCRMError("passwords do not match")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    """Add a user, reading the password from stdin or a prompt; an existing name is a usage error."""
    from socialcrm.services.users import clean_display_name, create_user, get_user, validate_new_user

    config = configure(args)
    try:
        clean_display_name(args.display_name)  # said before the password prompt
    except InvalidInputError as err:
        print(f"socialcrm: {err}", file=sys.stderr)
        return 2
    if not args.replace:  # said before the password prompt, not after it
        try:
            with opened(config, write=False) as session:
                get_user(session, args.name)
            return _user_exists(args)
        except NotFoundError:
            pass
    password = _read_password()
    try:
        validate_new_user(args.name, args.role, password)
    except InvalidInputError as err:
        print(f"socialcrm: {err}", file=sys.stderr)
        return 2
    try:
        with opened(config, write=True) as session:
            create_user(
                session,
                args.name,
                args.role,
                password,
                language=args.language,
                display_name=args.display_name,
                replace=args.replace,
            )
    except ConflictError:  # added by someone else since the check above
        return _user_exists(args)
    print(f"User {args.name} ({args.role}) saved")
    return 0


def _user_exists(args: argparse.Namespace) -> int:
    command = invoked_as() + (f" --config {args.config}" if args.config else "")
    print(
        f"socialcrm: user {args.name!r} already exists. To change it, run "
        f"`{command} user add {args.name} --role {args.role} --replace` (new password and role) "
        f"or `{command} user set-role {args.name} ROLE`.",
        file=sys.stderr,
    )
    return 2


def cmd_user_list(args: argparse.Namespace) -> int:
    """Print every user with role, state, last login and the name they sign replies with."""
    from socialcrm.services.users import list_users

    with opened(configure(args), write=False) as session:
        for user in list_users(session):
            state = "disabled" if user.disabled else "active"
            last = user.last_login_at.isoformat(timespec="minutes") if user.last_login_at else "never"
            signs = f"  signs as {user.display_name!r}" if user.display_name else ""
            print(f"{user.username:<24} {user.role:<10} {state:<8} last login {last}{signs}")
    return 0


def cmd_user_set_role(args: argparse.Namespace) -> int:
    """Give a user another role."""
    from socialcrm.services.users import set_role

    with opened(configure(args), write=True) as session:
        set_role(session, args.name, args.role, actor="cli")
    print(f"{args.name} is now {args.role}")
    return 0


def cmd_user_set_name(args: argparse.Namespace) -> int:
    """Set the name a user signs replies with ("" goes back to the login name)."""
    from socialcrm.services.users import set_display_name

    with opened(configure(args), write=True) as session:
        user = set_display_name(session, args.name, args.display_name, actor="cli")
        shown = user.display_name or user.username
    print(f"{args.name} signs replies as {shown!r}")
    return 0


def cmd_user_set_time_zone(args: argparse.Namespace) -> int:
    """Set the time zone a user's web app shows times in ("" goes back to the browser's, else the server's)."""
    from socialcrm.services.users import set_time_zone
    from socialcrm.timezones import server_zone_name

    with opened(configure(args), write=True) as session:
        user = set_time_zone(session, args.name, args.time_zone, actor="cli")
        chosen = user.time_zone
    if chosen:
        print(f"{args.name} sees times in {chosen}")
    else:
        print(f"{args.name} sees times in the browser's time zone (else the server's, {server_zone_name()})")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    """Disable or enable a user's login."""
    from socialcrm.services.users import set_disabled

    with opened(configure(args), write=True) as session:
        set_disabled(session, args.name, args.disabled, actor="cli")
    if args.disabled:
        print(f"{args.name} disabled: their sessions are ended and their API tokens revoked")
    else:
        print(f"{args.name} enabled (they log in again; revoked API tokens stay revoked)")
    return 0


def cmd_user_token(args: argparse.Namespace) -> int:
    """Print a new API token for a user (shown once; only its hash is stored)."""
    from socialcrm.services.auth import create_api_token

    with opened(configure(args), write=True) as session:
        token = create_api_token(
            session, args.name, args.label, actor="cli", expires_in=args.expires, read_only=args.read_only
        )
    print(token)
    print("Store it now: it is shown only once. Send it as 'Authorization: Bearer <token>'.", file=sys.stderr)
    if args.expires is not None:
        until = (datetime.now(UTC) + args.expires).strftime("%Y-%m-%d %H:%M UTC")
        print(f"It expires {until}.", file=sys.stderr)
    if args.read_only:
        print("It is read-only: requests that change something get 403.", file=sys.stderr)
    return 0
