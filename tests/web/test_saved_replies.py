"""Admin pages for saved replies: create, edit, delete, every problem shown on the form with the input kept."""

from __future__ import annotations

from sqlmodel import select

from socialcrm.models import AuditEntry, SavedReply


async def test_an_admin_creates_edits_and_deletes_a_saved_reply(as_role, db, world):
    client, csrf = await as_role("admin")
    page = await (await client.get("/admin/replies")).text()
    assert "/danke" in page and "{{ order_number }}" in page, "the list and the variables one may use"
    created = await client.post(
        "/admin/replies",
        data={
            "csrf_token": csrf,
            "key": "/Lieferung",
            "language": "de",
            "title": "Lieferung unterwegs",
            "text": "Hallo {{ customer_name }},\r\nIhre Bestellung {{ order_number }} ist unterwegs.",
        },
        allow_redirects=False,
    )
    assert created.status == 303 and created.headers["Location"] == "/admin/replies?notice=saved_reply_saved"
    with db.read() as s:
        saved = s.exec(select(SavedReply).where(SavedReply.key == "lieferung")).one()
    assert saved.text == "Hallo {{ customer_name }},\nIhre Bestellung {{ order_number }} ist unterwegs."
    assert (saved.language, saved.created_by) == ("de", "admin")
    edit = await client.post(
        f"/admin/replies/{saved.id}",
        data={"csrf_token": csrf, "key": "lieferung", "language": "de", "title": "Unterwegs", "text": saved.text},
        allow_redirects=False,
    )
    assert edit.status == 303
    deleted = await client.post(f"/admin/replies/{saved.id}/delete", data={"csrf_token": csrf}, allow_redirects=False)
    assert deleted.status == 303
    with db.read() as s:
        assert s.get(SavedReply, saved.id) is None
        actions = [a.action for a in s.exec(select(AuditEntry).where(AuditEntry.entity_type == "saved_reply"))]
    assert actions == ["saved_reply.create", "saved_reply.create", "saved_reply.update", "saved_reply.delete"]


async def test_a_bad_template_or_a_taken_key_is_shown_with_the_input_kept(as_role, db, world):
    client, csrf = await as_role("admin")
    bad = await client.post(
        "/admin/replies",
        data={"csrf_token": csrf, "key": "x", "language": "de", "title": "X", "text": "Hallo {{ kundenname }}"},
    )
    html = await bad.text()
    assert bad.status == 400
    assert "text: unknown variable &#39;kundenname&#39;" in html and "Hallo {{ kundenname }}</textarea>" in html
    taken = await client.post(
        "/admin/replies",
        data={"csrf_token": csrf, "key": "danke", "language": "de", "title": "Noch mal", "text": "Danke!"},
    )
    assert taken.status == 409 and "a saved reply /danke in de exists already" in await taken.text()
    wrong_language = await client.post(
        f"/admin/replies/{world.saved_reply_id}",
        data={"csrf_token": csrf, "key": "danke", "language": "fr", "title": "Merci", "text": "Merci !"},
    )
    assert wrong_language.status == 400 and "language: &#39;fr&#39; is not one of en, de" in await wrong_language.text()
    with db.read() as s:
        assert [r.title for r in s.exec(select(SavedReply))] == ["Danke"]
