"""Customers: the 360-degree view, link review and merge candidates."""

from __future__ import annotations

from sqlmodel import select

from socialcrm.models import Customer, Identity, LinkSuggestion, Mention, MergeCandidate
from tests.web.seed import add_customer, add_mention


async def test_360_view_shows_everything_about_the_customer(as_role, world):
    client, _ = await as_role("service")
    html = await (await client.get(f"/customers/{world.customer_id}")).text()
    for expected in (
        "Erika Mustermann",
        "erika",
        "Kaffeemaschine X1",
        "Lieferung fehlt",
        "Das tut uns leid! Wir kümmern uns.",
        "Meine Bestellung ist nicht angekommen",
    ):
        assert expected in html, expected
    assert "ticket_opened" in html or "ticket opened" in html


async def test_search_and_notes(as_role, db, world):
    client, csrf = await as_role("community")
    found = await (await client.get("/customers?q=musterm")).text()
    assert f"/customers/{world.customer_id}" in found
    none = await (await client.get("/customers?q=nobody-here")).text()
    assert f"/customers/{world.customer_id}" not in none
    await client.post(f"/customers/{world.customer_id}/notes", data={"csrf_token": csrf, "text": "Ruft morgen an"})
    assert "Ruft morgen an" in await (await client.get(f"/customers/{world.customer_id}")).text()


def _suggestion(db):  # type: ignore[no-untyped-def]
    with db.write() as s:
        customer = add_customer(s, "Max Beispiel")
        mention = add_mention(s, "Kundennummer K-77 hier, Paket fehlt", author="maxb")
        suggestion = LinkSuggestion(
            mention_id=mention.id,
            customer_id=customer.id,
            method="customer_number",
            confidence=0.7,
            evidence={"customer_number": "K-77"},
        )
        s.add(suggestion)
        s.flush()
        return suggestion.id, mention.id, customer.id


async def test_confirming_a_suggested_link_links_the_mention(as_role, db, world):
    suggestion_id, mention_id, customer_id = _suggestion(db)
    client, csrf = await as_role("community")
    html = await (await client.get("/customers/links")).text()
    assert "Max Beispiel" in html and "K-77" in html
    await client.post(f"/customers/links/{suggestion_id}/confirm", data={"csrf_token": csrf})
    with db.read() as s:
        assert s.get(LinkSuggestion, suggestion_id).status == "confirmed"
        assert s.get(Mention, mention_id).customer_id == customer_id
    assert "Max Beispiel" not in await (await client.get("/customers/links")).text()


async def test_rejecting_a_suggested_link_links_nothing(as_role, db, world):
    suggestion_id, mention_id, _customer_id = _suggestion(db)
    client, csrf = await as_role("service")
    await client.post(f"/customers/links/{suggestion_id}/reject", data={"csrf_token": csrf})
    with db.read() as s:
        assert s.get(LinkSuggestion, suggestion_id).status == "rejected"
        assert s.get(Mention, mention_id).customer_id is None


async def test_merge_candidates_merge_or_dismiss(as_role, db, world):
    with db.write() as s:
        a = add_customer(s, "Jana Doppelt")
        b = add_customer(s, "Jana Doppelt")
        s.add(Identity(platform="reddit", handle="jana", customer_id=b.id))
        c = add_customer(s, "Jan Anders")
        first = MergeCandidate(customer_a_id=a.id, customer_b_id=b.id, reason="same name")
        second = MergeCandidate(customer_a_id=a.id, customer_b_id=c.id, reason="similar name")
        s.add(first)
        s.add(second)
        s.flush()
        ids = (a.id, b.id, first.id, second.id)
    a_id, b_id, first_id, second_id = ids
    client, csrf = await as_role("service")
    html = await (await client.get("/customers/merges")).text()
    assert "same name" in html and "similar name" in html
    await client.post(f"/customers/merges/{first_id}/merge", data={"csrf_token": csrf, "keep": "a"})
    await client.post(f"/customers/merges/{second_id}/dismiss", data={"csrf_token": csrf})
    with db.read() as s:
        assert s.get(Customer, b_id).merged_into_id == a_id
        assert s.exec(select(Identity).where(Identity.handle == "jana")).one().customer_id == a_id
        assert s.get(MergeCandidate, second_id).status == "dismissed"
    again = await client.post(f"/customers/merges/{second_id}/dismiss", data={"csrf_token": csrf})
    assert again.status == 409
    # The merged record's page leads to the record it was merged into.
    response = await client.get(f"/customers/{b_id}", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == f"/customers/{a_id}"
