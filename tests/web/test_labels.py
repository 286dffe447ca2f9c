"""Custom labels in the web app: teach, train, switch on; then the filter, the API, the export and the dashboard."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from socialcrm.config import parse_config
from socialcrm.models import AuditEntry, CustomLabel, LabelExample, MentionLabel
from socialcrm.services import auth
from socialcrm.services.exports import mention_rows
from socialcrm.web.app import create_app
from tests.web.conftest import login
from tests.web.seed import add_mention, make_users

CONFIG = '[web]\ndefault_language = "en"\n[classifier]\nkind = "lexicon"\n'
LEAVING = [
    "I am cancelling my contract today",
    "Ich kündige meinen Vertrag zum Monatsende",
    "switching to another provider, goodbye",
    "Kündigung ist raus, ich wechsle den Anbieter",
]
STAYING = ["where is my parcel", "Wo bleibt mein Paket?", "the new app is great", "Die neue App ist super"]


@pytest.fixture
def client_as(aiohttp_client, db):  # type: ignore[no-untyped-def]
    make_users(db)
    config = parse_config(CONFIG)

    async def make(role: str):  # type: ignore[no-untyped-def]
        client = await aiohttp_client(create_app(config, db))
        return client, await login(client, role)

    return make


def _mentions(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.write() as s:
        texts = enumerate(LEAVING + STAYING)
        return {text: add_mention(s, text, url=f"https://blog.example.com/{i}").id for i, text in texts}


async def _teach(client, csrf: str, db, ids: dict[str, int]) -> int:  # type: ignore[no-untyped-def]
    created = await client.post(
        "/labels", data={"csrf_token": csrf, "name": "churn", "title": "Churn signal"}, allow_redirects=False
    )
    assert created.status == 303
    label_id = int(re.search(r"/labels/(\d+)", created.headers["Location"]).group(1))  # type: ignore[union-attr]
    page = await (await client.get(f"/labels/{label_id}?q=vertrag")).text()
    assert f'data-candidate="{ids[LEAVING[1]]}"' in page and f'data-candidate="{ids[STAYING[0]]}"' not in page
    for text, mention_id in ids.items():
        marked = await client.post(
            f"/labels/{label_id}/examples",
            data={"csrf_token": csrf, "mention_id": str(mention_id), "positive": "1" if text in LEAVING else "0"},
            allow_redirects=False,
        )
        assert marked.status == 303
    written = await client.post(
        f"/labels/{label_id}/examples",
        data={"csrf_token": csrf, "text": "Please close my account, I am leaving", "positive": "1"},
        allow_redirects=False,
    )
    assert written.status == 303
    return label_id


async def test_a_community_manager_teaches_trains_and_switches_a_label_on(client_as, db):
    ids = _mentions(db)
    client, csrf = await client_as("community")
    label_id = await _teach(client, csrf, db, ids)
    early = await client.post(f"/labels/{label_id}/switch", data={"csrf_token": csrf, "enabled": "1"})
    assert early.status == 409
    trained = await client.post(f"/labels/{label_id}/train", data={"csrf_token": csrf}, allow_redirects=False)
    assert trained.status == 303 and trained.headers["Location"].endswith("notice=label_trained")
    page = await (await client.get(f"/labels/{label_id}")).text()
    assert "4-fold cross-validation on the 5 examples and 4 counter-examples" in page
    assert 'data-figure="precision"' in page and 'data-figure="recall"' in page
    switch = {"csrf_token": csrf, "enabled": "1"}
    on = await client.post(f"/labels/{label_id}/switch", data=switch, allow_redirects=False)
    assert on.status == 303
    with db.read() as s:
        label = s.get(CustomLabel, label_id)
        assert label is not None and label.enabled and label.positives == 5 and label.negatives == 4
        assert len(s.exec(select(LabelExample)).all()) == 9
        actions = [e.action for e in s.exec(select(AuditEntry).where(AuditEntry.entity_type == "label"))]
    assert actions == ["label.define", "label.train", "label.enable"]
    filled = await client.post(f"/labels/{label_id}/backfill", data={"csrf_token": csrf}, allow_redirects=False)
    assert filled.status == 303
    with db.read() as s:
        labelled = set(s.exec(select(MentionLabel.mention_id)))
    assert labelled and labelled <= {ids[t] for t in LEAVING}
    assert 'id="stale"' not in await (await client.get(f"/labels/{label_id}")).text()
    # Trained again: the labels already given came from the earlier head until back-labelling runs again.
    await client.post(f"/labels/{label_id}/train", data={"csrf_token": csrf}, allow_redirects=False)
    page = await (await client.get(f"/labels/{label_id}")).text()
    assert f"{len(labelled)} mentions got this label from an earlier training" in page
    await client.post(f"/labels/{label_id}/backfill", data={"csrf_token": csrf}, allow_redirects=False)
    assert 'id="stale"' not in await (await client.get(f"/labels/{label_id}")).text()


async def test_readers_see_the_figures_but_not_the_teaching_forms(client_as, db):
    client, csrf = await client_as("community")
    label_id = await _teach(client, csrf, db, _mentions(db))
    marketing, marketing_csrf = await client_as("marketing")
    page = await (await marketing.get(f"/labels/{label_id}")).text()
    assert "Churn signal" in page and 'id="teach"' not in page and 'id="train"' not in page
    refused = await marketing.post(f"/labels/{label_id}/train", data={"csrf_token": marketing_csrf})
    assert refused.status == 403
    admin, _ = await client_as("admin")
    assert 'id="teach"' in await (await admin.get(f"/labels/{label_id}")).text()


async def test_a_bad_name_or_too_few_examples_are_shown_on_the_page(client_as, db):
    client, csrf = await client_as("community")
    bad = await client.post("/labels", data={"csrf_token": csrf, "name": "Bug Report"})
    assert bad.status == 400 and "label name" in await bad.text()
    created = await client.post("/labels", data={"csrf_token": csrf, "name": "bug"}, allow_redirects=False)
    label_id = int(created.headers["Location"].split("/")[2].split("?")[0])
    few = await client.post(f"/labels/{label_id}/train", data={"csrf_token": csrf})
    assert few.status == 400 and "it has 0 and 0" in await few.text()


async def test_labelled_mentions_in_the_filter_api_export_and_dashboard(client_as, db):
    ids = _mentions(db)
    with db.write() as s:
        label = CustomLabel(name="churn", title="Churn signal", enabled=True, head=b"\0" * 8, features="words-v1")
        s.add(label)
        s.flush()
        assert label.id is not None
        s.add(MentionLabel(mention_id=ids[LEAVING[0]], label_id=label.id, score=0.91))
        token = auth.create_api_token(s, "marketing", "test", actor="test")
    client, _ = await client_as("marketing")
    page = await (await client.get("/mentions?label=churn")).text()
    assert f'data-mention="{ids[LEAVING[0]]}"' in page and f'data-mention="{ids[STAYING[0]]}"' not in page
    assert 'data-label="churn"' in page
    api = await (await client.get("/api/v1/mentions?label=churn", headers={"Authorization": f"Bearer {token}"})).json()
    assert [(m["id"], m["labels"]) for m in api["items"]] == [(ids[LEAVING[0]], ["churn"])]
    with db.read() as s:
        rows = {row["id"]: row for row in mention_rows(s)}
    assert rows[ids[LEAVING[0]]]["labels"] == ["churn"] and rows[ids[STAYING[0]]]["labels"] == []
    assert list(rows[ids[LEAVING[0]]])[-1] == "labels", "a new field goes after the first release's fields"
    dashboard = await (await client.get("/dashboard?range=30")).text()
    assert 'id="labels-chart"' in dashboard and 'href="/mentions?label=churn"' in dashboard
