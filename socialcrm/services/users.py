"""Users and roles: who may log in, with which role, UI language and the name they sign replies with.

Passwords are checked in services.auth. The display name is what ``{{ agent_name }}`` writes in a
reply (the login name when it is not set).
"""

from __future__ import annotations

import re

from sqlmodel import Session, select

from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.models import ROLES, UI_LANGUAGES, User
from socialcrm.services import audit, auth
from socialcrm.services.auth import hash_password
from socialcrm.timezones import checked_zone_name

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
MAX_DISPLAY_NAME = 80


def validate_new_user(username: str, role: str, password: str) -> None:
    """Raise InvalidInputError naming the first of username, role or password that breaks the rules."""
    if not _USERNAME.match(username):
        raise InvalidInputError("username: 1-64 letters, digits, '_', '.', '@' or '-'")
    _check_role(role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"password: at least {MIN_PASSWORD_LENGTH} characters")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInputError(f"role: unknown role {role!r} (allowed: {', '.join(ROLES)})")


def clean_display_name(value: str | None) -> str | None:
    """A display name as stored: spaces tidied, None when empty; InvalidInputError when unfit for a reply."""
    if value is None:
        return None
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise InvalidInputError("display name: no line breaks or control characters")
    name = " ".join(value.split())
    if len(name) > MAX_DISPLAY_NAME:
        raise InvalidInputError(f"display name: at most {MAX_DISPLAY_NAME} characters (this one has {len(name)})")
    return name or None


def create_user(
    session: Session,
    username: str,
    role: str,
    password: str,
    *,
    actor: str = "cli",
    language: str | None = None,
    display_name: str | None = None,
    replace: bool = False,
) -> User:
    """Create a user (or, with ``replace``, reset an existing user's role and password, ending their sessions)."""
    validate_new_user(username, role, password)
    display_name = clean_display_name(display_name)
    existing = session.exec(select(User).where(User.username == username)).first()
    if existing is not None and not replace:
        raise ConflictError(f"user {username!r} already exists")
    user = existing or User(username=username, password_hash="", role=role)
    user.password_hash = hash_password(password)
    user.role = role
    if language:
        user.language = language
    if display_name:
        user.display_name = display_name
    session.add(user)
    session.flush()
    detail: dict[str, str] = {"role": role} | ({"display_name": display_name} if display_name else {})
    audit.record(session, actor, "user.update" if existing else "user.create", "user", user.id, detail)
    if existing is not None:  # a new password: whoever is logged in with the old one is logged out
        auth.end_sessions(session, user, actor=actor)
    return user


def get_user(session: Session, username: str) -> User:
    """The user named ``username``; NotFoundError when there is none."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    return user


def list_users(session: Session) -> list[User]:
    """Every user, disabled ones included, by name."""
    return list(session.exec(select(User).order_by(User.username)))


def set_role(session: Session, username: str, role: str, *, actor: str) -> User:
    """Give a user another role (it applies to their next request)."""
    _check_role(role)
    user = get_user(session, username)
    old = user.role
    user.role = role
    session.add(user)
    audit.record(session, actor, "user.role", "user", user.id, {"from": old, "to": role})
    return user


def set_display_name(session: Session, username: str, display_name: str | None, *, actor: str) -> User:
    """Set the name a user signs replies with (``{{ agent_name }}``); empty: back to the login name."""
    name = clean_display_name(display_name)
    user = get_user(session, username)
    old = user.display_name
    user.display_name = name
    session.add(user)
    audit.record(session, actor, "user.update", "user", user.id, {"display_name": {"from": old, "to": name}})
    return user


def set_time_zone(session: Session, username: str, time_zone: str | None, *, actor: str) -> User:
    """Set the zone a user's web app shows times in (an IANA name); empty: the browser's, else the server's."""
    name = checked_zone_name(time_zone)
    user = get_user(session, username)
    old = user.time_zone
    user.time_zone = name
    session.add(user)
    audit.record(session, actor, "user.update", "user", user.id, {"time_zone": {"from": old, "to": name}})
    return user


def set_disabled(session: Session, username: str, disabled: bool, *, actor: str) -> User:
    """Disable a user's login (their sessions end and API tokens are revoked, for good) or enable it again."""
    user = get_user(session, username)
    user.disabled = disabled
    session.add(user)
    audit.record(session, actor, "user.disable" if disabled else "user.enable", "user", user.id)
    if disabled:
        auth.end_all_access(session, user, actor=actor)
    return user


def set_language(session: Session, user_id: int, language: str | None) -> None:
    """Store a user's UI language (None: follow the browser)."""
    if language is not None and language not in UI_LANGUAGES:
        raise InvalidInputError(f"language: {language!r} is not one of {', '.join(UI_LANGUAGES)}")
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    user.language = language
    session.add(user)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def set_digest(session: Session, user_id: int, email: str | None, weekly_digest: bool) -> User:
    """Store where a user's weekly digest goes and whether they want it (an address is needed to switch it on)."""
    email = (email or "").strip() or None
    if email is not None and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        raise InvalidInputError(f"email: {email!r} is not an e-mail address")
    if weekly_digest and email is None:
        raise InvalidInputError("email: the weekly digest needs an e-mail address")
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    user.email = email
    user.weekly_digest = weekly_digest
    session.add(user)
    audit.record(session, user.username, "user.update", "user", user.id, {"weekly_digest": weekly_digest})
    return user
