"""The account page switches the weekly digest on and off and says where it goes (CSRF-protected, validated)."""

from __future__ import annotations

import re

from sqlmodel import select

from socialcrm.db import Database
from socialcrm.models import User
from tests.web.seed import make_users


async def test_opting_in_on_the_account_page(as_role, db: Database) -> None:
    make_users(db)
    client, csrf = await as_role("marketing")
    page = await (await client.get("/me")).text()
    assert 'action="/me/digest"' in page and "weekly_digest" in page
    missing = await client.post("/me/digest", data={"csrf_token": csrf, "weekly_digest": "on"})
    assert missing.status == 400 and "needs an e-mail address" in await missing.text()
    bad = await client.post("/me/digest", data={"csrf_token": csrf, "email": "not an address", "weekly_digest": "on"})
    assert bad.status == 400
    saved = await client.post(
        "/me/digest", data={"csrf_token": csrf, "email": "m@example.com", "weekly_digest": "on"}, allow_redirects=False
    )
    assert saved.status == 303
    with db.read() as s:
        user = s.exec(select(User).where(User.username == "marketing")).one()
    assert (user.email, user.weekly_digest) == ("m@example.com", True)
    assert re.search(r'name="weekly_digest" checked', await (await client.get("/me")).text())
    forged = await client.post("/me/digest", data={"email": "x@example.com"})
    assert forged.status == 403
