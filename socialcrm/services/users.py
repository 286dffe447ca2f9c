"""Users and roles: creation with an Argon2id password hash, verification, and role checks."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, select

from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.models import ROLES, ApiToken, User, utcnow
from socialcrm.services import audit

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
# Verifying against this keeps the time of a login with an unknown name equal to a wrong password.
_DUMMY_HASH = _hasher.hash("socialcrm-timing-equaliser")


def validate_new_user(username: str, role: str, password: str) -> None:
    if not _USERNAME.match(username):
        raise InvalidInputError("username: 1-64 letters, digits, '_', '.', '@' or '-'")
    if role not in ROLES:
        raise InvalidInputError(f"role: unknown role {role!r} (allowed: {', '.join(ROLES)})")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"password: at least {MIN_PASSWORD_LENGTH} characters")


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
    user.password_hash = _hasher.hash(password)
    user.role = role
    if language:
        user.language = language
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.update" if existing else "user.create", "user", user.id, {"role": role})
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the user when the password matches and the account is enabled."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or user.disabled:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    session.add(user)
    return user


def get_user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.username)))


def set_role(session: Session, username: str, role: str, *, actor: str) -> User:
    if role not in ROLES:
        raise InvalidInputError(f"role: unknown role {role!r} (allowed: {', '.join(ROLES)})")
    user = get_user(session, username)
    old = user.role
    user.role = role
    session.add(user)
    audit.record(session, actor, "user.role", "user", user.id, {"from": old, "to": role})
    return user


def set_disabled(session: Session, username: str, disabled: bool, *, actor: str) -> User:
    user = get_user(session, username)
    user.disabled = disabled
    session.add(user)
    audit.record(session, actor, "user.disable" if disabled else "user.enable", "user", user.id)
    return user


def hash_api_token(token: str) -> str:
    """API tokens are random and long, so a plain SHA-256 is the right stored form (not a password hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, username: str, label: str, *, actor: str) -> str:
    """Create a bearer token for ``username``; return it (only its hash is stored)."""
    user = get_user(session, username)
    token = "scrm_" + secrets.token_urlsafe(32)
    assert user.id is not None
    session.add(ApiToken(user_id=user.id, name=label[:64], token_hash=hash_api_token(token)))
    audit.record(session, actor, "token.create", "user", user.id, {"label": label})
    return token


def user_for_api_token(session: Session, token: str) -> User | None:
    """The enabled user a bearer token belongs to, or None; records its last use."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_api_token(token))).first()
    if row is None or row.revoked:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    row.last_used_at = utcnow()
    session.add(row)
    return user
