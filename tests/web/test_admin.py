"""Admin: source health, rules tested against a stored mention, users and roles, API tokens, audit log."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlmodel import select

from socialcrm.config import parse_config
from socialcrm.models import MentionRetry, SourceState, Ticket, TicketMention, User, utcnow
from socialcrm.services import retries
from socialcrm.services.queue import POLL_TASK, SEND_TASK
from socialcrm.web.app import create_app
from tests.web.conftest import login
from tests.web.seed import add_mention

CONFIG = """
[[sources]]
name = "acme-blog"
type = "feed"
url = "https://blog.example.com/feed.xml"

[[rules]]
name = "complaint-ticket"
[rules.when]
sentiment = ["negative"]
query = "bestellung OR lieferung"
[[rules.then]]
action = "open_ticket"

[[rules]]
name = "praise"
[rules.when]
sentiment = ["positive"]
[[rules.then]]
action = "tag"
tags = ["praise"]
"""


async def _admin(aiohttp_client, db):  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(parse_config(CONFIG), db))
    return client, await login(client, "admin")


async def test_sources_show_their_health_and_can_be_paused(aiohttp_client, db, world):
    with db.write() as s:
        state = s.get(SourceState, "acme-blog")
        state.last_error = "HTTP 503 from blog.example.com"
        state.error_total = 4
        s.add(state)
    client, csrf = await _admin(aiohttp_client, db)
    html = await (await client.get("/admin")).text()
    assert "acme-blog" in html and "HTTP 503 from blog.example.com" in html
    await client.post("/admin/sources/acme-blog/pause", data={"csrf_token": csrf})
    with db.read() as s:
        assert s.get(SourceState, "acme-blog").state == "paused"
    assert (await client.post("/admin/sources/nope/pause", data={"csrf_token": csrf})).status == 404


async def test_rules_page_tests_a_stored_mention_with_the_explanation(aiohttp_client, db, world):
    client, _ = await _admin(aiohttp_client, db)
    html = await (await client.get(f"/admin/rules?mention={world.mention_id}")).text()
    assert "complaint-ticket" in html and "praise" in html
    assert re.search(r'data-rule="complaint-ticket" data-fired="yes"', html)
    assert re.search(r'data-rule="praise" data-fired="no"', html)
    assert "✗ sentiment" in html  # why praise did not fire: the post is negative
    assert (await client.get("/admin/rules?mention=99999")).status == 404


async def test_users_roles_and_tokens(aiohttp_client, db, world):
    client, csrf = await _admin(aiohttp_client, db)
    await client.post(
        "/admin/users",
        data={"csrf_token": csrf, "username": "neu", "role": "service", "password": "langes-passwort"},
    )
    await client.post("/admin/users/neu/role", data={"csrf_token": csrf, "role": "marketing"})
    short = await client.post(
        "/admin/users", data={"csrf_token": csrf, "username": "x", "role": "service", "password": "kurz"}
    )
    assert short.status == 400 and "password" in await short.text()
    with db.read() as s:
        assert s.exec(select(User).where(User.username == "neu")).one().role == "marketing"
    page = await client.post("/admin/tokens", data={"csrf_token": csrf, "username": "service", "name": "ci"})
    token = re.search(r'<code id="new-token">([^<]+)</code>', await page.text()).group(1)
    api = await client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert api.status == 200
    token_id = re.search(r"/admin/tokens/(\d+)/revoke", await (await client.get("/admin/users")).text()).group(1)
    await client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert (await client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})).status == 401


async def test_an_admin_cannot_lock_themselves_out(aiohttp_client, db, world):
    client, csrf = await _admin(aiohttp_client, db)
    response = await client.post("/admin/users/admin/disable", data={"csrf_token": csrf})
    assert response.status == 400


async def test_audit_log_lists_logins_and_actions(aiohttp_client, db, world):
    client, csrf = await _admin(aiohttp_client, db)
    await client.post(f"/tickets/{world.ticket_id}/notes", data={"csrf_token": csrf, "text": "geprüft"})
    html = await (await client.get("/admin/audit")).text()
    assert "login.success" in html and "ticket.note" in html
    filtered = await (await client.get(f"/admin/audit?entity=ticket&entity_id={world.ticket_id}")).text()
    assert "ticket.note" in filtered and "login.success" not in filtered


async def test_admin_page_says_which_sentiment_adapter_set_runs_and_its_licence(aiohttp_client, db, world):
    client, _ = await _admin(aiohttp_client, db)  # no licence in the config: the first release's research set
    html = await (await client.get("/admin")).text()
    shown = re.search(r"<p data-sentiment-model>(.*?)</p>", html, re.S)
    assert shown and "<strong>research</strong>" in shown.group(1) and "non-commercial" in shown.group(1)
    commercial = parse_config(CONFIG + '\n[classifier]\nkind = "default"\nlicence = "commercial"\n')
    client = await aiohttp_client(create_app(commercial, db))
    await login(client, "admin")
    shown = re.search(r"<p data-sentiment-model>(.*?)</p>", await (await client.get("/admin")).text(), re.S)
    assert shown and "<strong>commercial</strong>" in shown.group(1) and "MIT" in shown.group(1)


async def test_sources_page_shows_poll_jobs_workers_and_queue_depth_on_postgres(aiohttp_client, db, world):
    client, _ = await _admin(aiohttp_client, db)
    if db.is_sqlite:  # one process does all the work: no queue, no workers to show
        html = await (await client.get("/admin")).text()
        assert "acme-blog" in html and "Workers and job queue" not in html and "Poll job" not in html
        return
    with db.engine.begin() as conn:
        worker_id = conn.execute(text("INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO workerprocess (id, name, role, version, started_at) "
                "VALUES (:id, 'host-a:4123', 'worker', '1', NOW())"
            ),
            {"id": worker_id},
        )
        job = conn.execute(
            text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args) "
                "VALUES ('poll', :task, 'poll:acme-blog', 'poll:acme-blog', '{\"source\": \"acme-blog\"}') RETURNING id"
            ),
            {"task": POLL_TASK},
        ).scalar_one()
        conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :j"),
            {"w": worker_id, "j": job},
        )
        conn.execute(
            text("INSERT INTO procrastinate_jobs (queue_name, task_name, args) VALUES ('send', :task, :args)"),
            {"task": SEND_TASK, "args": '{"item_id": 7}'},
        )
    html = await (await client.get("/admin")).text()
    row = re.search(r'<tr data-source="acme-blog">.*?</tr>', html, re.S)
    assert row and "polling on host-a:4123" in row.group(0)
    assert re.search(r'data-worker="[^"]*".*?host-a:4123.*?worker-alive|worker-alive.*?host-a:4123', html, re.S)
    summary = re.search(r'<p data-queue="summary">(.*?)</p>', html, re.S)
    assert summary and "Waiting: 1" in summary.group(1) and "Running: 1" in summary.group(1)
    # The worker dies: no heartbeat for longer than [workers] stalled_after.
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE procrastinate_workers SET last_heartbeat = NOW() - interval '10 minutes'"))
    html = await (await client.get("/admin")).text()
    assert "stalled on host-a:4123" in html and "worker-stalled" in html
    summary = re.search(r'<p data-queue="summary">(.*?)</p>', html, re.S)
    assert summary and "Stalled: 1" in summary.group(1)


async def test_mentions_waiting_for_a_retry_are_shown_retried_and_dismissed(aiohttp_client, db, world):
    """A mention whose linking or rules failed is counted on its source, listed, retried now or dismissed."""
    with db.write() as s:
        first = add_mention(s, "Meine Lieferung ist nicht angekommen", author="neu-1")
        second = add_mention(s, "Lieferung kaputt", author="neu-2")
        for mention in (first, second):
            retries.record_failure(s, mention, "ZeroDivisionError: integer division by zero", now=utcnow())
    client, csrf = await _admin(aiohttp_client, db)
    html = await (await client.get("/admin")).text()
    assert f'data-retry="{first.id}"' in html and f'data-retry="{second.id}"' in html
    assert "ZeroDivisionError: integer division by zero" in html and 'href="#retries">2</a>' in html

    response = await client.post(f"/admin/retries/{second.id}/dismiss", data={"csrf_token": csrf})
    assert response.status == 200  # redirected back to the page
    assert (await client.post(f"/admin/retries/{second.id}/dismiss")).status == 403  # CSRF protected
    with db.read() as s:
        assert [w.mention_id for w in retries.waiting(s)] == [first.id]
        dismissed = s.get(MentionRetry, second.id)
        assert dismissed is not None and dismissed.dismissed_by == "admin"

    await client.post("/admin/retries/run", data={"csrf_token": csrf})
    with db.read() as s:
        assert retries.waiting(s) == [] and s.get(MentionRetry, first.id) is None
        assert s.exec(select(Ticket).join(TicketMention).where(TicketMention.mention_id == first.id)).one()
    html = await (await client.get("/admin")).text()
    assert 'data-retry="' not in html
