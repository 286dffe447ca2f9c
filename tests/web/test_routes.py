"""Every route: without login, as each role (allowed or 403), and every POST without its CSRF token (403)."""

from __future__ import annotations

import pytest

from socialcrm.web.app import create_app

ALL = ("admin", "community", "service", "marketing")
COMMUNITY = ("admin", "community")
SERVICE = ("admin", "service")
MARKETING = ("admin", "marketing")
CUSTOMERS = ("admin", "community", "service")
READERS = ALL
REPLIERS = ("admin", "community", "service")
COMPOSE_KEY = "route-matrix-compose-key"
ADMIN = ("admin",)

# (method, route pattern, concrete path, form data, roles allowed)
MATRIX = [
    ("GET", "/", "/", None, ALL),
    ("GET", "/mentions", "/mentions", None, READERS),
    (
        "POST",
        r"/mentions/{id}/sentiment",
        "/mentions/{mention}/sentiment",
        {"sentiment": "neutral"},
        ("admin", "community", "marketing"),
    ),
    ("GET", r"/mentions/{id}", "/mentions/{mention}", None, READERS),
    ("POST", r"/mentions/{id}/compose", "/mentions/{mention}/compose", {"text": "Hallo", "do": "preview"}, REPLIERS),
    (
        "POST",
        r"/mentions/{id}/reply",
        "/mentions/{mention}/reply",
        {"text": "Danke!", "compose_key": COMPOSE_KEY},
        REPLIERS,
    ),
    ("POST", r"/replies/{id}/posted", "/replies/{draft}/posted", {}, REPLIERS),
    ("POST", "/me/language", "/me/language", {"language": "de"}, ALL),
    ("GET", "/me", "/me", None, ALL),
    ("POST", "/me/sessions/end-others", "/me/sessions/end-others", {}, ALL),
    ("POST", "/me/digest", "/me/digest", {"email": "me@example.com", "weekly_digest": "on"}, ALL),
    ("POST", "/me/time-zone", "/me/time-zone", {"time_zone": "Europe/Berlin"}, ALL),
    ("POST", "/logout", "/logout", {}, ALL),
    ("GET", "/queue", "/queue", None, COMMUNITY),
    ("GET", "/queue/{id}", "/queue/{draft}", None, COMMUNITY),
    ("POST", "/queue/{id}/approve", "/queue/{draft}/approve", {}, COMMUNITY),
    ("POST", "/queue/{id}/edit", "/queue/{draft}/edit", {"text": "Neu"}, COMMUNITY),
    ("POST", "/queue/{id}/reject", "/queue/{draft}/reject", {"reason": "off topic"}, COMMUNITY),
    ("POST", "/queue/{id}/reassign", "/queue/{draft}/reassign", {"assignee": "community"}, COMMUNITY),
    ("POST", "/queue/{id}/posted", "/queue/{draft}/posted", {}, COMMUNITY),
    ("POST", "/queue/{id}/retry", "/queue/{draft}/retry", {}, COMMUNITY),
    ("GET", "/tickets", "/tickets", None, SERVICE),
    ("GET", "/tickets/{id}", "/tickets/{ticket}", None, SERVICE),
    ("POST", "/tickets/{id}/status", "/tickets/{ticket}/status", {"status": "open"}, SERVICE),
    ("POST", "/tickets/{id}/assign", "/tickets/{ticket}/assign", {"assignee": "service"}, SERVICE),
    ("POST", "/tickets/{id}/notes", "/tickets/{ticket}/notes", {"text": "called back"}, SERVICE),
    ("POST", "/tickets/{id}/merge", "/tickets/{ticket}/merge", {"duplicate_id": "{other}"}, SERVICE),
    ("POST", "/tickets/{id}/mentions", "/tickets/{ticket}/mentions", {"mention_id": "{mention}"}, SERVICE),
    ("POST", r"/mentions/{id}/ticket", "/mentions/{mention}/ticket", {"ticket_id": "{ticket}"}, SERVICE),
    ("POST", "/tickets/bulk", "/tickets/bulk", {"ticket": "{other}", "do": "close"}, SERVICE),
    ("POST", "/tickets/filters", "/tickets/filters", {"name": "Mine", "query": "status=open"}, SERVICE),
    ("POST", r"/tickets/filters/{id}/delete", "/tickets/filters/999/delete", {}, SERVICE),
    ("GET", "/dashboard", "/dashboard", None, MARKETING),
    ("GET", "/dashboard/export.csv", "/dashboard/export.csv", None, MARKETING),
    ("GET", "/customers", "/customers", None, CUSTOMERS),
    ("GET", r"/customers/{id}", "/customers/{customer}", None, CUSTOMERS),
    ("POST", r"/customers/{id}/notes", "/customers/{customer}/notes", {"text": "VIP"}, CUSTOMERS),
    ("GET", "/customers/links", "/customers/links", None, CUSTOMERS),
    ("POST", r"/customers/links/{id}/{decision}", "/customers/links/999/confirm", {}, CUSTOMERS),
    ("GET", "/customers/merges", "/customers/merges", None, CUSTOMERS),
    ("POST", r"/customers/merges/{id}/merge", "/customers/merges/999/merge", {"keep": "a"}, CUSTOMERS),
    ("POST", r"/customers/merges/{id}/dismiss", "/customers/merges/999/dismiss", {}, CUSTOMERS),
    ("POST", "/customers/merges/group", "/customers/merges/group", {"candidate": "999", "do": "dismiss"}, CUSTOMERS),
    ("GET", "/admin", "/admin", None, ADMIN),
    ("POST", "/admin/sources/{name}/{action}", "/admin/sources/acme-blog/pause", {}, ADMIN),
    ("POST", "/admin/retries/run", "/admin/retries/run", {}, ADMIN),
    ("POST", "/admin/retries/{mention_id}/dismiss", "/admin/retries/999/dismiss", {}, ADMIN),
    ("GET", "/admin/rules", "/admin/rules", None, ADMIN),
    ("GET", "/admin/users", "/admin/users", None, ADMIN),
    (
        "POST",
        "/admin/users",
        "/admin/users",
        {"username": "newbie", "role": "service", "password": "longenough1"},
        ADMIN,
    ),
    ("POST", "/admin/users/{name}/role", "/admin/users/marketing/role", {"role": "marketing"}, ADMIN),
    (
        "POST",
        "/admin/users/{name}/display-name",
        "/admin/users/marketing/display-name",
        {"display_name": "Mara Klein"},
        ADMIN,
    ),
    ("POST", "/admin/users/{name}/{action}", "/admin/users/marketing/enable", {}, ADMIN),
    ("POST", "/admin/tokens", "/admin/tokens", {"username": "service", "name": "ci"}, ADMIN),
    ("POST", r"/admin/tokens/{id}/revoke", "/admin/tokens/999/revoke", {}, ADMIN),
    ("GET", "/admin/audit", "/admin/audit", None, ADMIN),
    ("GET", "/admin/replies", "/admin/replies", None, ADMIN),
    (
        "POST",
        "/admin/replies",
        "/admin/replies",
        {"key": "gruss", "language": "en", "title": "Hi", "text": "Hi!"},
        ADMIN,
    ),
    ("GET", r"/admin/replies/{id}", "/admin/replies/{saved}", None, ADMIN),
    (
        "POST",
        r"/admin/replies/{id}",
        "/admin/replies/{saved}",
        {"key": "danke", "language": "de", "title": "Dank", "text": "Danke sehr!"},
        ADMIN,
    ),
    ("POST", r"/admin/replies/{id}/delete", "/admin/replies/{saved}/delete", {}, ADMIN),
    ("GET", "/labels", "/labels", None, ALL),
    ("POST", "/labels", "/labels", {"name": "bug-report", "title": "Bug report"}, COMMUNITY),
    ("GET", r"/labels/{id}", "/labels/{label}", None, ALL),
    ("POST", r"/labels/{id}", "/labels/{label}", {"title": "Churn", "threshold": "0.5"}, COMMUNITY),
    ("POST", r"/labels/{id}/examples", "/labels/{label}/examples", {"text": "I quit", "positive": "1"}, COMMUNITY),
    ("POST", r"/labels/{id}/examples/{example}/delete", "/labels/{label}/examples/999/delete", {}, COMMUNITY),
    ("POST", r"/labels/{id}/train", "/labels/{label}/train", {}, COMMUNITY),
    ("POST", r"/labels/{id}/switch", "/labels/{label}/switch", {"enabled": "0"}, COMMUNITY),
    ("POST", r"/labels/{id}/backfill", "/labels/{label}/backfill", {}, COMMUNITY),
    ("POST", r"/labels/{id}/delete", "/labels/999/delete", {}, ADMIN),
    ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None, ALL),
    ("GET", "/api/v1/mentions", "/api/v1/mentions", None, READERS),
    ("GET", r"/api/v1/mentions/{id}", "/api/v1/mentions/{mention}", None, READERS),
    ("GET", "/api/v1/tickets", "/api/v1/tickets", None, SERVICE),
    ("GET", r"/api/v1/tickets/{id}", "/api/v1/tickets/{ticket}", None, SERVICE),
    ("POST", r"/api/v1/tickets/{id}/status", "/api/v1/tickets/{ticket}/status", {"status": "open"}, SERVICE),
    ("POST", r"/api/v1/tickets/{id}/notes", "/api/v1/tickets/{ticket}/notes", {"text": "x"}, SERVICE),
    ("GET", "/api/v1/drafts", "/api/v1/drafts", None, COMMUNITY),
    ("GET", r"/api/v1/drafts/{id}", "/api/v1/drafts/{draft}", None, COMMUNITY),
    ("POST", r"/api/v1/drafts/{id}/approve", "/api/v1/drafts/{draft}/approve", {}, COMMUNITY),
    ("POST", r"/api/v1/drafts/{id}/reject", "/api/v1/drafts/{draft}/reject", {"reason": "no"}, COMMUNITY),
    ("GET", "/api/v1/customers", "/api/v1/customers", None, CUSTOMERS),
    ("GET", r"/api/v1/customers/{id}", "/api/v1/customers/{customer}", None, CUSTOMERS),
]
PUBLIC = {("GET", "/healthz"), ("GET", "/login"), ("POST", "/login"), ("GET", "/metrics")}  # /metrics: own token


def _canonical(pattern: str) -> str:
    import re

    return re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", pattern)


def _fill(text: str, world) -> str:  # type: ignore[no-untyped-def]
    return text.format(
        mention=world.mention_id,
        draft=world.draft_id,
        ticket=world.ticket_id,
        customer=world.customer_id,
        other=world.other_ticket_id,
        saved=world.saved_reply_id,
        label=world.label_id,
    )


def test_every_route_is_in_the_matrix(db, web_config):
    app = create_app(web_config, db)
    routes = {
        (route.method, _canonical(route.resource.canonical))
        for route in app.router.routes()
        if route.method != "HEAD" and not route.resource.canonical.startswith("/static")
    }
    covered = {(method, _canonical(pattern)) for method, pattern, *_ in MATRIX} | PUBLIC
    assert routes - covered == set(), "routes without an access test"
    assert covered - routes == set(), "the matrix names routes the app does not have"


async def test_without_login_pages_redirect_and_api_says_401(anon, world):
    for method, _pattern, path, data, _roles in MATRIX:
        url = _fill(path, world)
        form = {k: _fill(v, world) for k, v in (data or {}).items()}
        response = await anon.request(method, url, data=form if method == "POST" else None, allow_redirects=False)
        if url.startswith("/api/"):
            assert response.status == 401, (method, url)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert response.status == 302, (method, url, response.status)
            assert response.headers["Location"].startswith("/login"), (method, url)


@pytest.mark.parametrize("role", ALL)
async def test_each_role_is_allowed_or_forbidden(as_role, world, role):
    client, csrf = await as_role(role)
    failures = []
    for method, _pattern, path, data, roles in MATRIX:
        if path == "/logout":
            continue  # it would end the session the other checks use
        url = _fill(path, world)
        form = {k: _fill(v, world) for k, v in (data or {}).items()}
        if method == "POST":
            form["csrf_token"] = csrf
        response = await client.request(method, url, data=form if method == "POST" else None, allow_redirects=False)
        if role not in roles:
            if response.status != 403:
                failures.append(f"{method} {url}: {role} got {response.status}, expected 403")
        elif method == "GET" and response.status not in (200, 302):
            failures.append(f"{method} {url}: {role} got {response.status}, expected the page")
        elif response.status in (401, 403) or response.status >= 500:
            failures.append(f"{method} {url}: {role} got {response.status}")
    assert failures == []


async def test_every_post_without_csrf_token_is_403(as_role, world):
    client, _csrf = await as_role("admin")
    for method, _pattern, path, data, _roles in MATRIX:
        if method != "POST" or path.startswith("/api/"):
            continue
        url = _fill(path, world)
        form = {k: _fill(v, world) for k, v in (data or {}).items()}
        response = await client.post(url, data=form, allow_redirects=False)
        assert response.status == 403, (url, response.status)
        wrong = await client.post(url, data={**form, "csrf_token": "forged"}, allow_redirects=False)
        assert wrong.status == 403, (url, wrong.status)


async def test_api_post_with_session_cookie_needs_the_csrf_header(as_role, world):
    client, csrf = await as_role("admin")
    url = f"/api/v1/tickets/{world.ticket_id}/notes"
    assert (await client.post(url, json={"text": "x"})).status == 403
    ok = await client.post(url, json={"text": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status == 200
