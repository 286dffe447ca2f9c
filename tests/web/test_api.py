"""The JSON API: bearer tokens, roles, pagination, filters, actions, and its OpenAPI document."""

from __future__ import annotations

import re

from socialcrm.services import auth
from socialcrm.web.app import create_app
from tests.web.seed import add_customer, add_mention


def _token(db, username: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with db.write() as s:
        token = auth.create_api_token(s, username, "test", actor="test")
    return {"Authorization": f"Bearer {token}"}


async def test_tokens_are_required_and_roles_apply(anon, db, world):
    assert (await anon.get("/api/v1/mentions")).status == 401
    bad = await anon.get("/api/v1/mentions", headers={"Authorization": "Bearer scrm_nope"})
    assert bad.status == 401 and (await bad.json())["error"] == "invalid or revoked API token"
    marketing = _token(db, "marketing")
    assert (await anon.get("/api/v1/mentions", headers=marketing)).status == 200
    forbidden = await anon.get("/api/v1/drafts", headers=marketing)
    assert forbidden.status == 403 and "error" in await forbidden.json()


async def test_mentions_are_paged_with_a_cursor(anon, db, world):
    with db.write() as s:
        for i in range(7):
            add_mention(s, f"Beitrag {i}", sentiment="positive" if i % 2 else "negative")
    headers = _token(db, "community")
    seen: list[int] = []
    url = "/api/v1/mentions?limit=3"
    while url:
        body = await (await anon.get(url, headers=headers)).json()
        seen.extend(item["id"] for item in body["items"])
        url = body["next"]
    assert len(seen) == 8 and seen == sorted(seen, reverse=True) and len(set(seen)) == 8
    positive = await (await anon.get("/api/v1/mentions?sentiment=positive", headers=headers)).json()
    assert {m["sentiment"] for m in positive["items"]} == {"positive"} and len(positive["items"]) == 3
    one = await (await anon.get(f"/api/v1/mentions/{world.mention_id}", headers=headers)).json()
    assert one["customer_ref"] and one["published_at"].endswith("Z")
    assert (await anon.get("/api/v1/mentions?limit=1000", headers=headers)).status == 400


async def test_tickets_and_customers(anon, db, world):
    headers = _token(db, "service")
    tickets = await (await anon.get("/api/v1/tickets?status=new", headers=headers)).json()
    first = next(t for t in tickets["items"] if t["id"] == world.ticket_id)
    assert first["mention_ids"] == [world.mention_id]
    changed = await anon.post(f"/api/v1/tickets/{world.ticket_id}/status", json={"status": "pending"}, headers=headers)
    assert (await changed.json())["status"] == "pending"
    noted = await anon.post(f"/api/v1/tickets/{world.ticket_id}/notes", json={"text": "per API"}, headers=headers)
    assert [n["text"] for n in (await noted.json())["notes"]] == ["per API"]
    invalid = await anon.post(
        f"/api/v1/tickets/{world.ticket_id}/status",
        data=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert invalid.status == 400 and "JSON" in (await invalid.json())["error"]
    customer = await (await anon.get(f"/api/v1/customers/{world.customer_id}", headers=headers)).json()
    assert customer["name"] == "Erika Mustermann" and customer["orders"][0]["products"] == ["Kaffeemaschine X1"]
    search = await (await anon.get("/api/v1/customers?q=Erika", headers=headers)).json()
    assert [c["id"] for c in search["items"]] == [world.customer_id]


async def test_draft_approval_by_api_is_compare_and_set(anon, db, world):
    headers = _token(db, "community")
    approved = await anon.post(f"/api/v1/drafts/{world.draft_id}/approve", json={"version": 1}, headers=headers)
    assert approved.status == 200 and (await approved.json())["status"] == "approved"
    again = await anon.post(f"/api/v1/drafts/{world.draft_id}/approve", json={"version": 1}, headers=headers)
    assert again.status == 409 and "approved" in (await again.json())["error"]


async def test_openapi_document_describes_every_api_route(anon, db, web_config, world):
    doc = await (await anon.get("/api/v1/openapi.json", headers=_token(db, "marketing"))).json()
    assert doc["openapi"].startswith("3.") and "bearer" in doc["components"]["securitySchemes"]
    assert "X-SocialCRM-Signature" in doc["info"]["description"]
    app = create_app(web_config, db)
    routes = {
        re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", r.resource.canonical)[len("/api/v1") :]
        for r in app.router.routes()
        if r.resource.canonical.startswith("/api/v1/") and r.method != "HEAD"
    } - {"/openapi.json"}
    assert routes == set(doc["paths"])
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            for response in operation["responses"].values():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                ref = schema.get("$ref") or schema.get("properties", {}).get("items", {}).get("items", {}).get("$ref")
                if ref:
                    assert ref.split("/")[-1] in doc["components"]["schemas"], path


async def test_input_is_checked_against_the_documented_models(anon, db, world):
    headers = _token(db, "community")

    async def error(response) -> str:  # type: ignore[no-untyped-def]
        assert response.status == 400, await response.text()
        return str((await response.json())["error"])

    assert "not a parameter" in await error(await anon.get("/api/v1/mentions?sentimnet=negative", headers=headers))
    assert "more than once" in await error(await anon.get("/api/v1/mentions?limit=1&limit=2", headers=headers))
    assert (await error(await anon.get("/api/v1/mentions?sentiment=", headers=headers))).startswith("sentiment:")
    assert (await error(await anon.get(f"/api/v1/drafts?cursor={2**63}", headers=headers))).startswith("cursor:")
    assert (await error(await anon.get("/api/v1/drafts?limit=5.0", headers=headers))).startswith("limit:")
    url = f"/api/v1/drafts/{world.draft_id}/reject"
    assert "white space" in await error(await anon.post(url, json={"reason": "  "}, headers=headers))
    assert "null" in await error(await anon.post(url, json={"reason": "spam", "version": None}, headers=headers))
    assert "not a field" in await error(await anon.post(url, json={"reason": "spam", "why": 1}, headers=headers))
    assert "version" in await error(await anon.post(url, json={"reason": "spam", "version": 2**40}, headers=headers))
    multipart = await anon.post(url, data=b"x", headers={**headers, "Content-Type": "multipart/form-data"})
    assert multipart.status == 415 and "application/json" in (await multipart.json())["error"]
    # The draft is untouched by all of that; the approval needs no body at all (compare-and-set is optional).
    approved = await anon.post(f"/api/v1/drafts/{world.draft_id}/approve", headers=headers)
    assert approved.status == 200 and (await approved.json())["status"] == "approved"


async def test_since_takes_a_day_or_an_iso_8601_time_with_its_offset(anon, db, world):
    from datetime import UTC, datetime

    with db.write() as s:
        early = add_mention(s, "früh", published_at=datetime(2026, 3, 29, 7, 59, tzinfo=UTC)).id
        late = add_mention(s, "spät", published_at=datetime(2026, 3, 29, 8, 0, tzinfo=UTC)).id
    headers = _token(db, "community")

    async def ids(since: str) -> set[int]:
        response = await anon.get("/api/v1/mentions", params={"since": since, "limit": "200"}, headers=headers)
        assert response.status == 200, await response.text()
        return {m["id"] for m in (await response.json())["items"]}

    # 10:00 in Berlin on the day summer time starts is 08:00 UTC: the mention at 07:59 UTC is before it.
    for moment in ("2026-03-29T10:00:00+02:00", "2026-03-29T08:00:00Z", "2026-03-29 08:00:00.000+00:00"):
        found = await ids(moment)
        assert late in found and early not in found, moment
    assert {early, late} <= await ids("2026-03-29")
    naive = await anon.get("/api/v1/mentions", params={"since": "2026-03-29T10:00:00"}, headers=headers)
    assert naive.status == 400 and "time zone" in (await naive.json())["error"]
    words = await anon.get("/api/v1/mentions", params={"since": "yesterday"}, headers=headers)
    assert words.status == 400 and "ISO 8601" in (await words.json())["error"]


async def test_lists_link_to_their_next_page_and_customer_search_reaches_every_match(anon, db, world):
    with db.write() as s:
        wanted = {add_customer(s, f"Schulz {i:03d}", company="Schulz GmbH").id for i in range(205)}
        add_customer(s, "Meier")
    headers = _token(db, "service")
    seen: list[int] = []
    url: str | None = "/api/v1/customers?q=SCHULZ&limit=200"
    while url:
        response = await anon.get(url, headers=headers)
        body = await response.json()
        seen.extend(c["id"] for c in body["items"])
        link = response.headers.get("Link")
        if body["next"]:
            assert link == f'<{body["next"]}>; rel="next"' and f"cursor={body['next_cursor']}" in link
        else:
            assert link is None and body["next_cursor"] is None
        url = body["next"]
    assert len(seen) == 205 and set(seen) == wanted and seen == sorted(seen, reverse=True)
