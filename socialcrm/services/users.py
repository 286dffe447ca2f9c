"""Users and roles: who may log in, with which role and UI language (passwords are checked in services.auth)."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.models import ROLES, UI_LANGUAGES, User
from socialcrm.services import audit, auth
from socialcrm.services.auth import hash_password

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8


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


def create_user(
    session: Session,
    username: str,
    role: str,
    password: str,
    *,
    actor: str = "cli",
    language: str | None = None,
    replace: bool = False,
) -> User:
    """Create a user (or, with ``replace``, reset an existing user's role and password)."""
    validate_new_user(username, role, password)
    existing = session.exec(select(User).where(User.username == username)).first()
    if existing is not None and not replace:
        raise ConflictError(f"user {username!r} already exists")
    user = existing or User(username=username, password_hash="", role=role)
    user.password_hash = hash_password(password)
    user.role = role
    if language:
        user.language = language
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.update" if existing else "user.create", "user", user.id, {"role": role})
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
