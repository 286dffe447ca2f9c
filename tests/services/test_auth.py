"""The authentication service: the login transaction, browser sessions, API tokens and their audit entries."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from socialcrm.db import Database
from socialcrm.errors import NotFoundError
from socialcrm.models import ApiToken, AuditEntry, WebSession
from socialcrm.services import auth, users

PASSWORD = "correct horse battery"


def _add_user(db: Database, name: str = "maria") -> None:
    with db.write() as s:
        users.create_user(s, name, "service", PASSWORD, actor="test")


def _audit(db: Database) -> list[tuple[str, str, str]]:
    with db.read() as s:
        entries = s.exec(select(AuditEntry).where(AuditEntry.actor != "test").order_by(col(AuditEntry.id)))
        return [(e.action, e.actor, e.entity_type) for e in entries]


def test_login_opens_a_session_its_cookie_finds_and_logout_ends_it(db: Database) -> None:
    _add_user(db)
    policy = auth.LoginPolicy.of(12, 5)
    with db.write() as s:
        result = auth.log_in(s, "maria", PASSWORD, address="10.0.0.1", policy=policy)
    assert result.outcome == "ok" and result.user is not None and result.session_token
    with db.read() as s:
        stored = s.exec(select(WebSession)).one()
        found = auth.user_for_session(s, result.session_token)
    assert stored.id == auth.hash_secret(result.session_token)  # the cookie's value itself is never stored
    assert found == result.user and found.username == "maria" and found.session_hash == stored.id
    assert found.csrf_token == stored.csrf_token and found.token_id is None
    with db.write() as s:
        auth.log_out(s, found)
    with db.read() as s:
        assert auth.user_for_session(s, result.session_token) is None
    assert _audit(db) == [("login.success", "maria", "user"), ("logout", "maria", "user")]


def test_wrong_passwords_throttle_the_account_only_from_that_address(db: Database) -> None:
    _add_user(db)
    policy = auth.LoginPolicy.of(12, 2)
    with db.write() as s:
        first = auth.log_in(s, "maria", "wrong-wrong", address="10.0.0.1", policy=policy)
        unknown = auth.log_in(s, "nobody", "wrong-wrong", address="10.0.0.1", policy=policy)
        second = auth.log_in(s, "Maria", "wrong-wrong", address="10.0.0.1", policy=policy)
        right_here = auth.log_in(s, "maria", PASSWORD, address="10.0.0.1", policy=policy)
        right_elsewhere = auth.log_in(s, "maria", PASSWORD, address="10.0.0.4", policy=policy)
    outcomes = [r.outcome for r in (first, unknown, second, right_here, right_elsewhere)]
    assert outcomes == ["refused", "refused", "refused", "throttled", "ok"]
    assert right_here.user is None and right_here.session_token is None and right_here.retry_after > 0
    with db.read() as s:
        assert len(s.exec(select(WebSession)).all()) == 1
    assert [action for action, _actor, _entity in _audit(db)] == [
        "login.failure",
        "login.failure",
        "login.failure",
        "login.throttled",
        "login.success",
    ]


def test_the_throttle_delays_grow_per_pair_and_a_success_resets_them() -> None:
    now = [1000.0]
    throttle = auth.LoginThrottle(3, clock=lambda: now[0], first_delay=30, max_delay=900)
    waits = []
    for _ in range(9):
        now[0] += throttle.wait("10.0.0.1", "maria")  # the attacker waits out every delay, then fails again
        throttle.failed("10.0.0.1", "maria")
        waits.append(throttle.wait("10.0.0.1", "maria"))
    assert waits == [0, 0, 30, 60, 120, 240, 480, 900, 900]
    # Nobody else is slowed: the account elsewhere, other accounts here.
    assert throttle.wait("10.0.0.2", "maria") == 0 and throttle.wait("10.0.0.1", "jonas") == 0
    # Waiting out a delay does not forget the failures: the next one waits the longest again.
    now[0] += 900
    assert throttle.wait("10.0.0.1", "maria") == 0
    throttle.failed("10.0.0.1", "maria")
    assert throttle.wait("10.0.0.1", "maria") == 900
    throttle.succeeded("10.0.0.1", "MARIA")
    assert throttle.wait("10.0.0.1", "maria") == 0
    # A pair quiet for the whole window starts afresh.
    for _ in range(3):
        throttle.failed("10.0.0.9", "jonas")
    now[0] += 30 + 901
    throttle.failed("10.0.0.9", "jonas")
    assert throttle.wait("10.0.0.9", "jonas") == 0


def test_a_disabled_user_cannot_log_in_and_loses_sessions_and_tokens(db: Database) -> None:
    _add_user(db)
    policy = auth.LoginPolicy.of(12, 5)
    with db.write() as s:
        cookie = auth.log_in(s, "maria", PASSWORD, address="10.0.0.1", policy=policy).session_token
        token = auth.create_api_token(s, "maria", "ci", actor="admin")
        users.set_disabled(s, "maria", True, actor="admin")
    assert cookie is not None
    with db.write() as s:
        assert auth.log_in(s, "maria", PASSWORD, address="10.0.0.1", policy=policy).outcome == "refused"
        assert auth.user_for_session(s, cookie) is None
        assert auth.check_api_token(s, token) is None


def test_api_tokens_are_shown_once_stored_as_hashes_and_audited_with_one_vocabulary(db: Database) -> None:
    _add_user(db)
    with db.write() as s:
        token = auth.create_api_token(s, "maria", "ci", actor="admin")
    assert token.startswith(auth.API_TOKEN_PREFIX)
    with db.read() as s:
        row = s.exec(select(ApiToken)).one()
        check = auth.check_api_token(s, token)
    assert row.token_hash == auth.hash_secret(token) and row.name == "ci"
    assert check is not None and check.user.username == "maria" and check.user.token_id == row.id
    assert check.user.csrf_token == "" and check.record_use  # never used yet
    assert row.id is not None
    with db.write() as s:
        auth.record_api_token_use(s, row.id)
    with db.read() as s:
        again = auth.check_api_token(s, token)
        assert again is not None and not again.record_use  # used a moment ago: no write per request
        assert auth.list_api_tokens(s)[0][1] == "maria"
    with db.write() as s:
        auth.revoke_api_token(s, row.id, actor="admin")
    with db.read() as s:
        assert auth.check_api_token(s, token) is None
        assert auth.check_api_token(s, "scrm_unknown") is None
    assert _audit(db) == [("api_token.create", "admin", "api_token"), ("api_token.revoke", "admin", "api_token")]
    with db.write() as s:
        with pytest.raises(NotFoundError, match="no user named 'nobody'"):
            auth.create_api_token(s, "nobody", "ci", actor="admin")
        with pytest.raises(NotFoundError, match="no API token with id 999"):
            auth.revoke_api_token(s, 999, actor="admin")
