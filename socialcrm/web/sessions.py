"""Server-side login sessions and API tokens: only hashes of the secrets are stored."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, delete, select

from socialcrm.errors import InvalidInputError, NotFoundError
from socialcrm.models import ApiToken, User, WebSession, utcnow
from socialcrm.services import audit
from socialcrm.web.i18n import LANGUAGES
from socialcrm.web.security import CurrentUser, hash_token, new_token


def start_session(session: Session, user: User, hours: float) -> tuple[str, WebSession]:
    """Create a session for ``user``; return the cookie token (never stored) and the row."""
    assert user.id is not None
    token = new_token()
    row = WebSession(
        id=hash_token(token),
        user_id=user.id,
        csrf_token=new_token(),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    return token, row


def load_session(session: Session, token: str) -> CurrentUser | None:
    """The user behind a cookie token, or None when unknown, expired or disabled."""
    row = session.get(WebSession, hash_token(token))
    if row is None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled or user.id is None:
        return None
    return CurrentUser(user.id, user.username, user.role, user.language, row.csrf_token, row.id)


def end_session(session: Session, session_hash: str) -> None:
    session.execute(delete(WebSession).where(col(WebSession.id) == session_hash))


def purge_expired_sessions(session: Session) -> None:
    """Forget sessions past their expiry (run at each login, so the table stays small)."""
    session.execute(delete(WebSession).where(col(WebSession.expires_at) <= utcnow()))


def set_language(session: Session, user_id: int, language: str | None) -> None:
    """Store a user's UI language (None: follow the browser)."""
    if language is not None and language not in LANGUAGES:
        raise InvalidInputError(f"language: {language!r} is not one of {', '.join(LANGUAGES)}")
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    user.language = language
    session.add(user)


def create_api_token(session: Session, username: str, name: str, *, actor: str) -> str:
    """A new bearer token for ``username``; the plain token is returned once and never stored."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or user.id is None:
        raise NotFoundError(f"no user named {username!r}")
    token = "scrm_" + new_token()
    row = ApiToken(user_id=user.id, name=name[:64] or "token", token_hash=hash_token(token))
    session.add(row)
    session.flush()
    audit.record(session, actor, "api_token.create", "api_token", row.id, {"user": username, "name": row.name})
    return token


def revoke_api_token(session: Session, token_id: int, *, actor: str) -> None:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no API token with id {token_id}")
    row.revoked = True
    session.add(row)
    audit.record(session, actor, "api_token.revoke", "api_token", token_id)


def load_api_token(session: Session, token: str) -> tuple[CurrentUser, int | None] | None:
    """The user behind a bearer token and, when its last use is stale, the token id to touch."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked or row.id is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled or user.id is None:
        return None
    stale = row.last_used_at is None or (utcnow() - row.last_used_at) > timedelta(minutes=5)
    return CurrentUser(user.id, user.username, user.role, user.language, ""), (row.id if stale else None)


def touch_api_token(session: Session, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is not None:
        row.last_used_at = utcnow()
        session.add(row)


def list_api_tokens(session: Session) -> list[tuple[ApiToken, str]]:
    rows = session.exec(
        select(ApiToken, User.username).join(User, col(User.id) == ApiToken.user_id).order_by(col(ApiToken.id))
    )
    return [(token, username) for token, username in rows]
