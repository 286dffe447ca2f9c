"""Numbers no record can have (2^31, 2^63, ...) in paths, queries and forms: 400 or 404, never 500; 405 says Allow."""

from __future__ import annotations

import re

from tests.web.test_routes import MATRIX, _fill

# Past the largest id a record can have (2^31 - 1, PostgreSQL INTEGER): 2^31, 2^63, 2^64 and 10^20.
HUGE = ("9223372036854775808", "2147483648", "18446744073709551616", "99999999999999999999")
_RECORD = re.compile(r"\{(mention|draft|ticket|customer|saved|other)\}|\b999\b")
# Every whole-number query parameter a page or the API reads.
QUERY_NUMBERS = ("cursor", "before", "page", "customer_id", "limit", "mention")
# Record numbers that forms and API bodies carry: (path, field).
FORM_NUMBERS = [
    ("/tickets/{ticket}/merge", "duplicate_id"),
    ("/queue/{draft}/approve", "version"),
    ("/queue/{draft}/edit", "version"),
    ("/mentions/{mention}/compose", "saved"),
    ("/customers/merges/group", "candidate"),
    ("/customers/merges/group", "keep"),
    ("/customers/merges/group", "merge"),
]
JSON = {"Accept": "application/json"}


async def test_huge_ids_in_every_path_are_404(as_role, world):
    client, csrf = await as_role("admin")
    failures = []
    for method, _pattern, path, data, _roles in MATRIX:
        if path == "/logout" or not _RECORD.search(path):
            continue
        for huge in HUGE:
            url = _fill(_RECORD.sub(huge, path), world)
            form = {k: _fill(v, world) for k, v in (data or {}).items()}
            if method == "POST":
                form["csrf_token"] = csrf
            response = await client.request(method, url, data=form if method == "POST" else None, headers=JSON)
            if response.status != 404:
                failures.append(f"{method} {url}: {response.status}")
    assert failures == []
    page = await client.get("/tickets/99999999999999999999")
    assert page.status == 404 and "text/html" in page.headers["Content-Type"]


async def test_huge_numbers_in_queries_forms_and_bodies_are_400(as_role, world):
    client, csrf = await as_role("admin")
    listings = sorted({path for method, _p, path, _d, _r in MATRIX if method == "GET" and "{" not in path})
    failures = []
    for huge in HUGE[:2]:
        for path in listings:
            for name in QUERY_NUMBERS:
                response = await client.get(path, params={name: huge}, headers=JSON, allow_redirects=False)
                if response.status >= 500:
                    failures.append(f"GET {path}?{name}={huge}: {response.status}")
        for path, name in FORM_NUMBERS:
            form = {"csrf_token": csrf, "text": "Hallo", "do": "insert", "candidate": "1", "keep": "1", name: huge}
            response = await client.post(_fill(path, world), data=form, headers=JSON, allow_redirects=False)
            if response.status != 400:
                failures.append(f"POST {path} {name}={huge}: {response.status}")
    api = f"/api/v1/drafts/{world.draft_id}/approve"
    for huge in HUGE[:2]:
        body = await client.post(api, json={"version": int(huge)}, headers={"X-CSRF-Token": csrf})
        if body.status != 400:
            failures.append(f"POST {api} version={huge}: {body.status}")
    assert failures == []
    cursor = await client.get("/api/v1/mentions", params={"cursor": HUGE[3]})
    assert cursor.status == 400
    assert (await cursor.json())["error"].startswith("cursor:")
    assert (await client.get("/tickets", params={"page": "2000000"})).status == 400


async def test_largest_id_is_still_a_plain_not_found(as_role, world):
    client, _csrf = await as_role("admin")
    largest = str(2**31 - 1)
    assert (await client.get(f"/api/v1/tickets/{largest}")).status == 404
    assert (await client.get("/api/v1/mentions", params={"cursor": largest})).status == 200
    assert (await client.get("/tickets/١٢")).status == 404  # other scripts' digits are no id


async def test_405_carries_allow(as_role, world):
    client, csrf = await as_role("admin")
    headers = {"X-CSRF-Token": csrf}
    api = await client.delete(f"/api/v1/tickets/{world.ticket_id}", headers=headers)
    assert api.status == 405
    assert set(api.headers["Allow"].split(",")) >= {"GET"}
    page = await client.put("/dashboard", headers=headers)
    assert page.status == 405 and "GET" in page.headers["Allow"]
