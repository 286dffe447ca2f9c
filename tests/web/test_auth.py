"""Login, sessions, logout, throttling, cookies, security headers and the health check."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlmodel import select

from socialcrm.config import parse_config
from socialcrm.models import AuditEntry, WebSession
from socialcrm.services.auth import hash_secret
from socialcrm.web.app import create_app
from socialcrm.web.security import SESSION_COOKIE
from tests.web.conftest import CONFIG_TOML, login
from tests.web.seed import PASSWORD, make_users


async def test_healthz_needs_no_login(anon):
    response = await anon.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok", "database": "ok"}


async def test_pages_redirect_to_login_with_next(anon, db):
    make_users(db)
    response = await anon.get("/queue?source=x", allow_redirects=False)
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/queue?source=x"]


async def test_login_sets_hardened_cookie_and_stores_only_a_hash(anon, db):
    make_users(db)
    page = await anon.get("/login")
    token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
    response = await anon.post(
        "/login",
        data={"username": "community", "password": "correct horse battery", "csrf_token": token},
        allow_redirects=False,
    )
    set_cookie = [v for k, v in response.headers.items() if k == "Set-Cookie" and SESSION_COOKIE in v][0]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie  # plain http on 127.0.0.1 without an https public_url
    cookie = anon.session.cookie_jar.filter_cookies(anon.make_url("/"))[SESSION_COOKIE]
    with db.read() as s:
        stored = s.exec(select(WebSession)).all()
    assert [row.id for row in stored] == [hash_secret(cookie.value)]
    assert cookie.value not in {row.id for row in stored}


async def test_login_redirects_to_role_home_and_next(anon, db):
    make_users(db)
    page = await anon.get("/login?next=/tickets")
    token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
    response = await anon.post(
        "/login",
        data={
            "username": "service",
            "password": "correct horse battery",
            "csrf_token": token,
            "next": "/tickets",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/tickets"


async def test_login_never_redirects_off_site(anon, db):
    make_users(db)
    for target in ("//evil.example/x", "/\\evil.example/x", "https://evil.example/", "javascript:alert(1)"):
        page = await anon.get("/login")
        token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
        response = await anon.post(
            "/login",
            data={"username": "service", "password": "correct horse battery", "csrf_token": token, "next": target},
            allow_redirects=False,
        )
        assert response.headers["Location"] == "/tickets", target
        anon.session.cookie_jar.clear()


async def test_wrong_password_is_refused_and_audited(anon, db):
    make_users(db)
    page = await anon.get("/login")
    token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
    response = await anon.post("/login", data={"username": "service", "password": "nope-nope", "csrf_token": token})
    assert response.status == 401
    assert "Wrong username or password" in await response.text()
    with db.read() as s:
        actions = [e.action for e in s.exec(select(AuditEntry).where(AuditEntry.actor == "service"))]
    assert "login.failure" in actions


async def test_successful_login_is_audited(anon, db):
    make_users(db)
    await login(anon, "marketing")
    with db.read() as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "login.success")).one()
    assert entry.actor == "marketing"
    assert entry.detail["ip"] == "127.0.0.1"


async def test_login_without_csrf_token_is_forbidden(anon, db):
    make_users(db)
    await anon.get("/login")
    response = await anon.post("/login", data={"username": "service", "password": "correct horse battery"})
    assert response.status == 403


async def test_login_is_throttled_per_username(anon, db):
    make_users(db)
    page = await anon.get("/login")
    token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
    for _ in range(5):
        response = await anon.post("/login", data={"username": "admin", "password": "wrong-wrong", "csrf_token": token})
        assert response.status == 401
    # Even the right password is refused until the window passes.
    response = await anon.post(
        "/login", data={"username": "admin", "password": "correct horse battery", "csrf_token": token}
    )
    assert response.status == 429
    with db.read() as s:
        assert s.exec(select(AuditEntry).where(AuditEntry.action == "login.throttled")).first() is not None


async def test_logout_ends_the_server_side_session(as_role, db, world):
    client, csrf = await as_role("community")
    assert (await client.get("/queue")).status == 200
    response = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303
    with db.read() as s:
        assert s.exec(select(WebSession)).all() == []
    assert (await client.get("/queue", allow_redirects=False)).status == 302


async def test_a_stolen_cookie_value_after_logout_is_useless(as_role, db, world, anon):
    client, csrf = await as_role("community")
    value = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    await client.post("/logout", data={"csrf_token": csrf})
    anon.session.cookie_jar.update_cookies({SESSION_COOKIE: value})
    assert (await anon.get("/queue", allow_redirects=False)).status == 302


async def test_security_headers_on_pages_errors_and_static(as_role, world, anon):
    client, _ = await as_role("community")
    for response in (
        await client.get("/queue"),
        await client.get("/nope"),
        await anon.get("/static/app.css"),
        await anon.get("/healthz"),
    ):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


async def test_secure_cookies_when_public_url_is_https(aiohttp_client, db):
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from socialcrm.config import parse_config
    from socialcrm.web.app import create_app
    from socialcrm.web.security import PRELOGIN_COOKIE, set_session_cookie

    config = parse_config('[web]\npublic_url = "https://crm.example.com"\n')
    app = create_app(config, db)
    client = await aiohttp_client(app)
    page = await client.get("/login")
    prelogin = [v for k, v in page.headers.items() if k == "Set-Cookie" and PRELOGIN_COOKIE in v][0]
    assert "Secure" in prelogin and "HttpOnly" in prelogin
    response = web.Response()
    set_session_cookie(make_mocked_request("POST", "/login", app=app), response, "token", 60)
    header = response.cookies[SESSION_COOKIE].output()
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


async def test_disabled_user_loses_access_at_once(as_role, db, world):
    from socialcrm.services import users

    client, _ = await as_role("service")
    with db.write() as s:
        users.set_disabled(s, "service", True, actor="admin")
    assert (await client.get("/tickets", allow_redirects=False)).status == 302


async def test_failures_from_one_address_lock_out_neither_others_nor_the_account_elsewhere(aiohttp_client, db):  # type: ignore[no-untyped-def]
    make_users(db)
    config = parse_config(CONFIG_TOML + 'trusted_proxies = ["127.0.0.1/32"]\n')
    client = await aiohttp_client(create_app(config, db))

    async def attempt(username: str, password: str, address: str) -> int:
        client.session.cookie_jar.clear()  # a fresh browser each time (no session from a success before)
        page = await client.get("/login")
        token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
        form = {"username": username, "password": password, "csrf_token": token}
        headers = {"X-Forwarded-For": f"198.51.100.7, {address}"}  # the proxy appends the client it saw
        response = await client.post("/login", data=form, headers=headers, allow_redirects=False)
        if response.status == 429:
            assert int(response.headers["Retry-After"]) >= 29
        return response.status

    attacker = "203.0.113.66"
    # Guessing many names from one address locks nobody out: each name gets its own free attempts.
    for name in ("a1", "a2", "a3", "a4", "a5", "a6", "service"):
        assert await attempt(name, "guess-guess", attacker) == 401
    assert await attempt("community", PASSWORD, attacker) == 303
    # Hammering one named account slows only that account from that address...
    for _ in range(5):
        assert await attempt("admin", "wrong-wrong", attacker) == 401
    assert await attempt("admin", PASSWORD, attacker) == 429
    # ... while its owner logs in from their own address with the right password.
    assert await attempt("admin", PASSWORD, "192.0.2.10") == 303
    with db.read() as s:
        throttled = s.exec(select(AuditEntry).where(AuditEntry.action == "login.throttled")).all()
    assert [(e.actor, e.detail) for e in throttled] == [("admin", {"ip": attacker})]


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(anon, db):  # type: ignore[no-untyped-def]
    make_users(db)
    page = await anon.get("/login")
    token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
    # The test client's peer (127.0.0.1) is no trusted proxy here: a forged header changes nothing.
    for number in range(5):
        forged = {"X-Forwarded-For": f"192.0.2.{number}"}
        data = {"username": "admin", "password": "wrong-wrong", "csrf_token": token}
        assert (await anon.post("/login", data=data, headers=forged)).status == 401
    data = {"username": "admin", "password": PASSWORD, "csrf_token": token}
    assert (await anon.post("/login", data=data, headers={"X-Forwarded-For": "192.0.2.99"})).status == 429
    with db.read() as s:
        ips = {e.detail["ip"] for e in s.exec(select(AuditEntry).where(AuditEntry.action == "login.failure"))}
    assert ips == {"127.0.0.1"}
