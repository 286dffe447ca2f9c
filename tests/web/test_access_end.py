"""Ending access: disabling a user for good, logging out other sessions, expiring and read-only API tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from socialcrm.models import ApiToken, AuditEntry, TicketNote, User, WebSession, utcnow
from socialcrm.services import auth
from socialcrm.web.app import create_app
from tests.web.conftest import login


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _user_id(session, username: str) -> int:  # type: ignore[no-untyped-def]
    user = session.exec(select(User).where(User.username == username)).one()
    assert user.id is not None
    return int(user.id)


async def test_disabling_ends_sessions_and_tokens_and_enabling_revives_neither(as_role, db, world):
    service, _ = await as_role("service")
    admin, csrf = await as_role("admin")
    with db.write() as s:
        token = auth.create_api_token(s, "service", "reporting", actor="admin")
    assert (await service.get("/tickets", allow_redirects=False)).status == 200
    assert (await service.get("/api/v1/tickets", headers=_bearer(token))).status == 200

    for action in ("disable", "enable"):
        response = await admin.post(f"/admin/users/service/{action}", data={"csrf_token": csrf}, allow_redirects=False)
        assert response.status == 303, await response.text()

    assert (await service.get("/tickets", allow_redirects=False)).status == 302  # back to the login page
    assert (await service.get("/api/v1/tickets", headers=_bearer(token))).status == 401
    with db.read() as s:
        assert s.exec(select(WebSession).where(WebSession.user_id == _user_id(s, "service"))).all() == []
        assert all(t.revoked for t in s.exec(select(ApiToken)).all())
        ended = s.exec(select(AuditEntry).where(AuditEntry.action == "user.access_ended")).one()
    assert ended.actor == "admin" and ended.detail == {"sessions": 1, "api_tokens": 1}
    # The enabled user logs in anew and works.
    await login(service, "service")
    assert (await service.get("/tickets", allow_redirects=False)).status == 200


async def test_a_user_logs_out_all_other_sessions(aiohttp_client, db, web_config, world):
    here = await aiohttp_client(create_app(web_config, db))
    elsewhere = await aiohttp_client(create_app(web_config, db))
    other_user = await aiohttp_client(create_app(web_config, db))
    csrf = await login(here, "community")
    await login(elsewhere, "community")
    await login(other_user, "service")

    page = await here.get("/me")
    html = await page.text()
    assert page.status == 200 and html.count("data-session") == 2 and "Log out all other sessions" in html
    forged = await here.post("/me/sessions/end-others", data={"csrf_token": "forged"}, allow_redirects=False)
    assert forged.status == 403
    assert (await elsewhere.get("/queue", allow_redirects=False)).status == 200

    done = await here.post("/me/sessions/end-others", data={"csrf_token": csrf}, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == "/me?notice=sessions_ended"
    assert (await elsewhere.get("/queue", allow_redirects=False)).status == 302
    assert (await here.get("/queue", allow_redirects=False)).status == 200
    assert (await other_user.get("/tickets", allow_redirects=False)).status == 200  # nobody else's
    with db.read() as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "session.end_others")).one()
    assert entry.actor == "community" and entry.detail == {"sessions": 1}

    await here.post("/me/language", data={"language": "de", "csrf_token": csrf})
    german = await (await here.get("/me?notice=sessions_ended")).text()
    assert "Alle anderen Sitzungen abmelden" in german and "Ihre anderen Sitzungen sind abgemeldet." in german


async def test_an_expired_token_is_refused(anon, db, world):
    with db.write() as s:
        token = auth.create_api_token(s, "service", "short", actor="admin", expires_in=timedelta(hours=1))
    assert (await anon.get("/api/v1/tickets", headers=_bearer(token))).status == 200
    with db.write() as s:
        row = s.exec(select(ApiToken).where(ApiToken.name == "short")).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    refused = await anon.get("/api/v1/tickets", headers=_bearer(token))
    assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_read_only_token_reads_but_changes_nothing(anon, db, world):
    with db.write() as s:
        token = auth.create_api_token(s, "service", "dashboard", actor="admin", read_only=True)
        writer = auth.create_api_token(s, "service", "ci", actor="admin")
    url = f"/api/v1/tickets/{world.ticket_id}"
    assert (await anon.get(url, headers=_bearer(token))).status == 200
    for path, body in (("/notes", {"text": "from a reader"}), ("/status", {"status": "closed"})):
        refused = await anon.post(url + path, json=body, headers=_bearer(token))
        assert refused.status == 403
        assert (await refused.json())["error"] == "this API token is read-only"
    with db.read() as s:
        assert s.exec(select(TicketNote).where(TicketNote.text == "from a reader")).all() == []
    assert (await anon.post(url + "/notes", json={"text": "a writer"}, headers=_bearer(writer))).status == 200


async def test_admin_page_creates_an_expiring_read_only_token(as_role, db, world):
    admin, csrf = await as_role("admin")
    form = {"username": "marketing", "name": "wallboard", "expires": "30d", "read_only": "1", "csrf_token": csrf}
    page = await admin.post("/admin/tokens", data=form)
    assert page.status == 200 and "new-token" in await page.text()
    with db.read() as s:
        row = s.exec(select(ApiToken).where(ApiToken.name == "wallboard")).one()
    assert row.read_only and row.expires_at is not None
    assert timedelta(days=29, hours=23) < row.expires_at - utcnow() <= timedelta(days=30)
    bad = await admin.post("/admin/tokens", data={**form, "expires": "soon"})
    assert bad.status == 400 and "expires" in await bad.text()
