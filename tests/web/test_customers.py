"""Customers: the 360-degree view, link review and merge candidates."""

from __future__ import annotations

import re

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


async def test_link_review_tells_the_evidence_in_words_and_asks_about_the_author_when_already_linked(
    as_role, db, world
):
    from socialcrm.config import parse_config
    from socialcrm.linking import link_mention
    from socialcrm.models import Order, utcnow

    with db.write() as s:
        customer = add_customer(s, "Jana Fischer")
        s.add(Order(order_number="100234", customer_id=customer.id, products=["Barista 3000"]))
        s.flush()
        mention = add_mention(s, "Bestellung 100234 ist überfällig!", author="jana_f", source_type="feed")
        mention.customer_id = None
        link_mention(s, mention, parse_config("").linking, utcnow())
        assert mention.customer_id == customer.id and mention.link_method == "order"
        other = add_mention(s, "Hallo", author="maxb2")
        s.add(
            LinkSuggestion(
                mention_id=other.id,
                customer_id=customer.id,
                method="fuzzy_name",
                confidence=0.86,
                evidence={"name": "Jana Fisher", "customer_name": "Jana Fischer", "company_in_text": True},
            )
        )
    client, _ = await as_role("community")
    html = await (await client.get("/customers/links")).text()
    assert "[" not in html.split("<main>", 1)[1], "no Python list in the page"
    assert "The post names order 100234, which belongs to this customer." in html
    assert "Is the author jana_f on feed this customer?" in html
    assert "Suggested customer" in html  # for the fuzzy one, whose post is not linked to her
    assert "The author&#39;s name Jana Fisher is close to the customer&#39;s name Jana Fischer." in html
    assert "The post names the customer&#39;s company." in html
    card = html[html.index("Is the author jana_f") - 2000 : html.index("Is the author jana_f")]
    assert "Currently linked to" not in card and "Suggested customer" not in card


async def test_a_suggestion_for_the_customer_the_author_is_confirmed_as_is_not_shown(as_role, db, world):
    with db.write() as s:
        customer = add_customer(s, "Paul Klar")
        mention = add_mention(s, "Danke!", author="paulk", customer=customer)
        mention.link_method = "identity"
        s.add(LinkSuggestion(mention_id=mention.id, customer_id=customer.id, method="email", confidence=0.9))
    client, _ = await as_role("service")
    html = await (await client.get("/customers/links")).text()
    assert "Paul Klar" not in html and "No links to review." in html


async def test_many_identical_names_are_one_card_with_contacts_side_by_side(as_role, db, world):
    from socialcrm.models import ContactPoint
    from socialcrm.services import merges

    with db.write() as s:
        records = [add_customer(s, "Thomas Müller", company="Acme GmbH") for _ in range(4)]
        for n, record in enumerate(records):
            s.add(ContactPoint(customer_id=record.id, kind="email", value=f"thomas{n}@example.com"))
            s.add(ContactPoint(customer_id=record.id, kind="phone", value=f"+4930123450{n}"))
        s.flush()
        created = merges.detect_candidates(s)
        ids = [r.id for r in records]
    assert len(created) == 6
    client, csrf = await as_role("service")
    html = await (await client.get("/customers/merges")).text()
    assert html.count('class="card merge-group"') == 1 and 'data-records="4"' in html
    assert "Same name and company: Thomas Müller, Acme GmbH" in html
    for n in range(4):
        row = html[html.index(f'data-customer="{ids[n]}"') :]
        row = row[: row.index("</tr>")]
        assert f"thomas{n}@example.com" in row and f"+4930123450{n}" in row
    candidate_ids = [int(v) for v in __import__("re").findall(r'name="candidate" value="(\d+)"', html)]
    response = await client.post(
        "/customers/merges/group",
        data=[
            ("csrf_token", csrf),
            *[("candidate", str(c)) for c in candidate_ids],
            ("keep", str(ids[0])),
            ("merge", str(ids[1])),
            ("merge", str(ids[2])),
            ("do", "merge"),
        ],
        allow_redirects=False,
    )
    assert response.status == 303
    with db.read() as s:
        assert [s.get(Customer, i).merged_into_id for i in ids] == [None, ids[0], ids[0], None]
        still_open = s.exec(select(MergeCandidate).where(MergeCandidate.status == "open")).all()
    assert {(c.customer_a_id, c.customer_b_id) for c in still_open} == {
        (ids[0], ids[3]),
        (ids[1], ids[3]),
        (ids[2], ids[3]),
    }
    after = await (await client.get("/customers/merges")).text()
    assert 'data-records="2"' in after, "the pairs left name the kept record and the fourth one"
    rest = [int(v) for v in __import__("re").findall(r'name="candidate" value="(\d+)"', after)]
    dismissed = await client.post(
        "/customers/merges/group",
        data=[("csrf_token", csrf), *[("candidate", str(c)) for c in rest], ("do", "dismiss")],
        allow_redirects=False,
    )
    assert dismissed.status == 303
    assert "No merge candidates." in await (await client.get("/customers/merges")).text()


async def test_search_pages_through_every_match(as_role, db, world):
    """More matches than a page (and more than the 200 the first release stopped at): every one is reachable."""
    with db.write() as s:
        wanted = {add_customer(s, f"Schulz {i:03d}").id for i in range(205)}
        add_customer(s, "Meier")
    client, _ = await as_role("community")
    seen: set[int] = set()
    page = 1
    while True:
        html = await (await client.get("/customers", params={"q": "schulz", "page": str(page)})).text()
        found = {int(i) for i in re.findall(r'href="/customers/(\d+)"', html)}
        assert found and not found & seen, page
        seen |= found
        if 'rel="next"' not in html:
            break
        page += 1
    assert seen == wanted and page == 5
