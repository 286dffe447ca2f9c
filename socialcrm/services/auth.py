"""Authentication: the login transaction, browser sessions and API tokens, with their audit entries.

The web layer and the command line call these functions; no other module reads or writes the
``WebSession`` and ``ApiToken`` tables or checks a password. Secrets are random (256 bits) and only
their SHA-256 is stored; passwords are stored as Argon2id hashes. Every function runs in the
caller's transaction, so a change and its audit entry commit together.

Failed logins slow down only their (account, address) pair (``LoginThrottle``), so a correct
password still gets in from elsewhere. Disabling a user ends every session and revokes every API
token of theirs (``end_all_access``), so enabling them again revives nothing; people can end their
other sessions themselves (``end_other_sessions``), and a new password set for them ends all of
them (``end_sessions``). A token may expire and may be read-only:
``check_api_token`` refuses an expired one, and the ``AuthenticatedUser`` it builds says whether
the request may change anything.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, col, delete, select

from socialcrm.errors import InvalidInputError, NotFoundError
from socialcrm.models import ApiToken, User, WebSession, utcnow
from socialcrm.services import audit

API_TOKEN_PREFIX = "scrm_"
# The requests a read-only API token may make: the ones that change nothing.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A token's last use is written at most this often, so API reads do not each need a write.
TOKEN_USE_RESOLUTION = timedelta(minutes=5)

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login with an unknown name equal to a wrong password.
_DUMMY_HASH = _hasher.hash("socialcrm-timing-equaliser")


def new_secret() -> str:
    """A random URL-safe secret of 256 bits (session cookies, CSRF tokens, API tokens)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """What the database keeps of a session or API token: its SHA-256, hex (the secrets are long and random)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """The Argon2id hash stored for a password."""
    return _hasher.hash(password)


def verify_password(session: Session, username: str, password: str) -> User | None:
    """The enabled user when the password matches (rehashing an outdated hash), else None, in equal time."""
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


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """Who a request acts as, and how they proved it: a browser session or an API token."""

    id: int
    username: str
    role: str
    language: str | None
    csrf_token: str  # "" for API tokens: a bearer request carries no cookie that could be forged
    session_hash: str | None = None  # set for browser sessions
    token_id: int | None = None  # set for API tokens
    read_only: bool = False  # a read-only API token: only READ_METHODS
    time_zone: str | None = None  # the user's own choice (an IANA name); None: the browser's, else the server's

    def may_request(self, method: str) -> bool:
        """Whether this user, authenticated this way, may make a request with ``method``."""
        return not self.read_only or method.upper() in READ_METHODS


# The throttle remembers at most this many (account, address) pairs (about 10 MB).
MAX_THROTTLED_PAIRS = 100_000


@dataclass(slots=True)
class _PairFailures:
    count: int
    last: float


class LoginThrottle:
    """Failed logins per (account, address) pair, in memory, with delays that grow after ``free`` failures.

    A pair's first ``free`` failures cost nothing; after that each attempt must wait ``first_delay``
    seconds after the last failure, twice as long after each further one, up to ``max_delay``. A
    pair quiet for ``window`` seconds (and past its delay) is forgotten, and a success forgets it at
    once. Only the pair is slowed: the same account from another address, and other accounts from
    this address, log in as usual, so nobody can lock a named account out, nor everyone behind one
    address.
    """

    def __init__(
        self,
        free: int,
        window_seconds: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        first_delay: float = 30.0,
        max_delay: float = 900.0,
    ):
        self.free = free
        self.window = window_seconds
        self.clock = clock
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._pairs: dict[tuple[str, str], _PairFailures] = {}
        self._lock = threading.Lock()  # logins run on the database's worker threads

    @staticmethod
    def _key(address: str, username: str) -> tuple[str, str]:
        return (username.strip().lower(), address)

    def _delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(self.max_delay, self.first_delay * 2 ** min(failures - self.free, 32)))

    def wait(self, address: str, username: str) -> float:
        """Seconds this account must wait before its next attempt from this address (0: it may try now)."""
        now = self.clock()
        with self._lock:
            entry = self._pairs.get(self._key(address, username))
            if entry is None:
                return 0.0
            ready = entry.last + self._delay(entry.count)
            if now - entry.last > self.window and now >= ready:
                del self._pairs[self._key(address, username)]
                return 0.0
            return max(0.0, ready - now)

    def blocked(self, address: str, username: str) -> bool:
        """Whether this account must wait before trying again from this address."""
        return self.wait(address, username) > 0

    def failed(self, address: str, username: str) -> None:
        """Count one failed attempt against the (account, address) pair."""
        now = self.clock()
        key = self._key(address, username)
        with self._lock:
            entry = self._pairs.get(key)
            if entry is None or now - entry.last > max(self.window, self._delay(entry.count)):
                self._pairs[key] = _PairFailures(1, now)
            else:
                entry.count += 1
                entry.last = now
            if len(self._pairs) > MAX_THROTTLED_PAIRS:
                self._prune(now)

    def _prune(self, now: float) -> None:
        """Keep memory bounded under a flood of names: forget quiet pairs, then the longest quiet ones."""
        for key in [k for k, e in self._pairs.items() if now - e.last > self.window]:
            del self._pairs[key]
        if len(self._pairs) > MAX_THROTTLED_PAIRS:
            oldest = sorted(self._pairs, key=lambda k: self._pairs[k].last)
            for key in oldest[: len(oldest) - MAX_THROTTLED_PAIRS // 2]:
                del self._pairs[key]

    def succeeded(self, address: str, username: str) -> None:
        """Forget the pair's failures."""
        with self._lock:
            self._pairs.pop(self._key(address, username), None)


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How logins are limited: session length and the throttle of failed attempts per account and address."""

    session_hours: float
    throttle: LoginThrottle

    @classmethod
    def of(cls, session_hours: float, attempts_per_15min: int) -> LoginPolicy:
        """The policy for ``[web] session_hours`` and ``login_attempts_per_15min`` (free failures per pair)."""
        return cls(float(session_hours), LoginThrottle(attempts_per_15min))


LoginOutcome = Literal["ok", "refused", "throttled"]


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What a login attempt came to; the user and the session cookie's value only when it is "ok"."""

    outcome: LoginOutcome
    user: AuthenticatedUser | None = None
    session_token: str | None = None
    retry_after: float = 0.0  # seconds, when "throttled"


def log_in(session: Session, username: str, password: str, *, address: str, policy: LoginPolicy) -> LoginResult:
    """The login transaction: throttle, password check, a new session; each outcome is audited."""
    throttle = policy.throttle
    wait = throttle.wait(address, username)
    if wait > 0:
        audit.record(session, username or "-", "login.throttled", "user", None, {"ip": address})
        return LoginResult("throttled", retry_after=wait)
    user = verify_password(session, username, password)
    if user is None:
        audit.record(session, username or "-", "login.failure", "user", None, {"ip": address})
        throttle.failed(address, username)
        return LoginResult("refused")
    purge_expired_sessions(session)
    token, row = start_session(session, user, policy.session_hours)
    audit.record(session, user.username, "login.success", "user", user.id, {"ip": address})
    throttle.succeeded(address, username)
    return LoginResult("ok", _session_user(user, row), token)


def log_out(session: Session, user: AuthenticatedUser) -> None:
    """End the user's browser session (if the request came with one) and audit the logout."""
    if user.session_hash:
        end_session(session, user.session_hash)
    audit.record(session, user.username, "logout", "user", user.id)


def start_session(session: Session, user: User, hours: float) -> tuple[str, WebSession]:
    """Create a session for ``user``; return the cookie token (never stored) and the row."""
    assert user.id is not None
    token = new_secret()
    row = WebSession(
        id=hash_secret(token),
        user_id=user.id,
        csrf_token=new_secret(),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    return token, row


def user_for_session(session: Session, token: str) -> AuthenticatedUser | None:
    """The user behind a session cookie, or None when it is unknown, expired or the user is disabled."""
    row = session.get(WebSession, hash_secret(token))
    if row is None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return _session_user(user, row)


def _session_user(user: User, row: WebSession) -> AuthenticatedUser:
    assert user.id is not None
    return AuthenticatedUser(
        user.id,
        user.username,
        user.role,
        user.language,
        row.csrf_token,
        session_hash=row.id,
        time_zone=user.time_zone,
    )


def end_session(session: Session, session_hash: str) -> None:
    """Forget one browser session (its cookie stops working at once)."""
    session.exec(delete(WebSession).where(col(WebSession.id) == session_hash))


def end_other_sessions(session: Session, user: AuthenticatedUser) -> int:
    """End every session of ``user`` except the one making the request; return how many (audited)."""
    statement = delete(WebSession).where(col(WebSession.user_id) == user.id)
    if user.session_hash:
        statement = statement.where(col(WebSession.id) != user.session_hash)
    ended = session.exec(statement).rowcount or 0
    audit.record(session, user.username, "session.end_others", "user", user.id, {"sessions": ended})
    return ended


def active_sessions(session: Session, user_id: int) -> list[WebSession]:
    """The user's sessions that have not expired, newest first."""
    rows = session.exec(
        select(WebSession)
        .where(col(WebSession.user_id) == user_id, col(WebSession.expires_at) > utcnow())
        .order_by(col(WebSession.created_at).desc())
    )
    return list(rows)


def end_sessions(session: Session, user: User, *, actor: str) -> int:
    """End every browser session of ``user`` (their password changed); return how many (audited).

    API tokens stay: they are credentials of their own, revoked one by one or by disabling the user.
    """
    assert user.id is not None
    ended = session.exec(delete(WebSession).where(col(WebSession.user_id) == user.id)).rowcount or 0
    audit.record(session, actor, "user.sessions_ended", "user", user.id, {"sessions": ended})
    return ended


def end_all_access(session: Session, user: User, *, actor: str) -> tuple[int, int]:
    """End all of ``user``'s sessions and revoke all their API tokens, for good; return both counts (audited).

    Called when a user is disabled: enabling them later needs a new login and new tokens.
    """
    assert user.id is not None
    sessions = session.exec(delete(WebSession).where(col(WebSession.user_id) == user.id)).rowcount or 0
    tokens = session.exec(
        select(ApiToken).where(col(ApiToken.user_id) == user.id, col(ApiToken.revoked).is_(False))
    ).all()
    for token in tokens:
        token.revoked = True
        session.add(token)
    audit.record(
        session, actor, "user.access_ended", "user", user.id, {"sessions": sessions, "api_tokens": len(tokens)}
    )
    return sessions, len(tokens)


def purge_expired_sessions(session: Session, now: datetime | None = None) -> int:
    """Forget sessions past their expiry; return how many (run at each login and by housekeeping)."""
    result = session.exec(delete(WebSession).where(col(WebSession.expires_at) <= (now or utcnow())))
    return result.rowcount or 0


def create_api_token(
    session: Session,
    username: str,
    name: str,
    *,
    actor: str,
    expires_in: timedelta | None = None,
    read_only: bool = False,
) -> str:
    """A new bearer token for ``username``; the plain token is returned once and only its hash is stored.

    With ``expires_in`` it stops working after that long; a ``read_only`` token may only read.
    """
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or user.id is None:
        raise NotFoundError(f"no user named {username!r}")
    if user.disabled:
        raise InvalidInputError(f"username: {username!r} is disabled; enable the user first")
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInputError("expires: must be a positive duration")
    token = API_TOKEN_PREFIX + new_secret()
    row = ApiToken(
        user_id=user.id,
        name=name[:64] or "token",
        token_hash=hash_secret(token),
        expires_at=utcnow() + expires_in if expires_in is not None else None,
        read_only=read_only,
    )
    session.add(row)
    session.flush()
    details: dict[str, object] = {"user": username, "name": row.name}
    if read_only:
        details["read_only"] = True
    if row.expires_at is not None:
        details["expires_at"] = row.expires_at.isoformat()
    audit.record(session, actor, "api_token.create", "api_token", row.id, details)
    return token


def revoke_api_token(session: Session, token_id: int, *, actor: str) -> None:
    """Revoke a token: requests with it are refused from now on."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no API token with id {token_id}")
    row.revoked = True
    session.add(row)
    audit.record(session, actor, "api_token.revoke", "api_token", token_id)


def list_api_tokens(session: Session) -> list[tuple[ApiToken, str]]:
    """Every token (revoked ones included) with its user's name, oldest first."""
    rows = session.exec(
        select(ApiToken, User.username).join(User, col(User.id) == ApiToken.user_id).order_by(col(ApiToken.id))
    )
    return [(token, username) for token, username in rows]


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """A valid bearer token's user; ``record_use`` when its last use is older than TOKEN_USE_RESOLUTION."""

    user: AuthenticatedUser
    record_use: bool


def check_api_token(session: Session, token: str) -> TokenCheck | None:
    """The user behind a bearer token; None when it is unknown, revoked, expired or its user disabled (reads only)."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_secret(token))).first()
    now = utcnow()
    if row is None or row.revoked or row.id is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled or user.id is None:
        return None
    stale = row.last_used_at is None or (now - row.last_used_at) > TOKEN_USE_RESOLUTION
    acting = AuthenticatedUser(
        user.id, user.username, user.role, user.language, "", token_id=row.id, read_only=row.read_only
    )
    return TokenCheck(acting, stale)


def record_api_token_use(session: Session, token_id: int) -> None:
    """Store the time of the token's latest use (shown on the admin's user page)."""
    row = session.get(ApiToken, token_id)
    if row is not None:
        row.last_used_at = utcnow()
        session.add(row)
