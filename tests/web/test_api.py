"""The JSON API: bearer tokens, roles, pagination, filters, actions, and its OpenAPI document."""

from __future__ import annotations

import re

from socialcrm.services import auth
from socialcrm.web.app import create_app
from tests.web.seed import add_mention


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
