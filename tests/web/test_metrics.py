"""/metrics scraped over HTTP, parsed with prometheus-client's own parser: stored and process figures, access."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlmodel import select

from connectors.base import Batch, TransientFetchError
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import Ticket, utcnow
from socialcrm.monitoring.instruments import PROCESS_REGISTRY, timed
from socialcrm.poller import Poller
from socialcrm.runtime import Runtime
from socialcrm.services import outbox
from socialcrm.services.queue import POLL_TASK, SEND_TASK
from socialcrm.web.app import create_app
from tests.core.fakes import FakeClassifier, ScriptedConnector, post
from tests.core.test_pipeline import PAGE, RULES, make_pipeline

SOURCES = """
[[sources]]
name = "blog"
type = "feed"
url = "https://blog.example.com/feed.xml"
interval = "10m"

[[sources]]
name = "forum"
type = "feed"
url = "https://forum.example.com/latest.rss"
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: TestClient, **headers: str) -> Samples:  # type: ignore[type-arg]
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def process_value(name: str, **labels: str) -> float:
    return PROCESS_REGISTRY.get_sample_value(name, labels) or 0.0


async def test_scrape_shows_sources_outbox_tickets_and_what_the_process_did(aiohttp_client, db: Database) -> None:
    config = parse_config(RULES + SOURCES)
    polls_before = process_value("socialcrm_source_polls_total", source="blog", outcome="ok")
    failed_before = process_value("socialcrm_source_polls_total", source="forum", outcome="failed")
    batches_before = process_value("socialcrm_classifier_batch_size_count", classifier="fake")
    new_before = process_value("socialcrm_pipeline_posts_total", outcome="new")

    pipeline = make_pipeline(config, db, timed(FakeClassifier()))  # type: ignore[arg-type]
    blog = Poller(config.source("blog"), ScriptedConnector("blog", {None: PAGE}), pipeline)
    assert (await blog.run_once()).new == 3
    broken = ScriptedConnector("forum")
    broken.error = TransientFetchError("forum", "HTTP 503", retry_after=120)
    assert (await Poller(config.source("forum"), broken, pipeline).run_once()).error
    now = utcnow()
    with db.write() as session:
        ticket = session.exec(select(Ticket)).one()  # the complaint's ticket, priority high
        ticket.first_response_due = now - timedelta(minutes=5)
        session.add(ticket)
        outbox.enqueue(session, "webhook", "webhook:test-1", {"webhook": "ops", "body": {}}, now=now)

    client = await aiohttp_client(create_app(config, db))
    assert (await client.get("/login")).status == 200
    samples = await scrape(client)

    # Stored figures: the same from any process, and after a restart.
    assert value(samples, "socialcrm_database_up") == 1
    assert value(samples, "socialcrm_source_new_items_total", source="blog", type="feed") == 3
    assert value(samples, "socialcrm_source_fetched_items_total", source="blog", type="feed") == 4
    assert value(samples, "socialcrm_source_errors_total", source="forum", type="feed") == 1
    assert value(samples, "socialcrm_source_state", source="forum", type="feed", state="backoff") == 1
    assert value(samples, "socialcrm_source_state", source="blog", type="feed", state="ok") == 1
    assert value(samples, "socialcrm_source_consecutive_failures", source="forum", type="feed") == 1
    assert value(samples, "socialcrm_source_interval_seconds", source="blog", type="feed") == 600
    lag = value(samples, "socialcrm_source_lag_seconds", source="blog", type="feed")
    assert lag is not None and 0 <= lag < 120
    assert value(samples, "socialcrm_source_lag_seconds", source="forum", type="feed") is None  # never succeeded
    assert value(samples, "socialcrm_outbox_queue_depth", kind="webhook", status="pending") == 1
    assert value(samples, "socialcrm_outbox_queue_depth", kind="reply", status="pending") == 0
    assert value(samples, "socialcrm_outbox_due_items", kind="webhook") == 1
    assert value(samples, "socialcrm_tickets_open", status="new", priority="high") == 1
    assert value(samples, "socialcrm_tickets_sla_breached", priority="high", due="first_response") == 1
    assert value(samples, "socialcrm_tickets_sla_breached", priority="high", due="resolution") == 0
    assert value(samples, "socialcrm_reply_drafts_pending") == 1  # the question's draft

    # What this process observed, counted in memory.
    assert value(samples, "socialcrm_source_polls_total", source="blog", outcome="ok") == polls_before + 1
    assert value(samples, "socialcrm_source_polls_total", source="forum", outcome="failed") == failed_before + 1
    assert value(samples, "socialcrm_classifier_batch_size_count", classifier="fake") == batches_before + 1
    assert value(samples, "socialcrm_pipeline_posts_total", outcome="new") == new_before + 3
    login = value(samples, "socialcrm_http_request_duration_seconds_count", method="GET", route="/login", status="200")
    assert login is not None and login >= 1
    assert value(samples, "process_cpu_seconds_total") is not None


@pytest.fixture
def token_config(monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("SOCIALCRM_TEST_METRICS_TOKEN", "scrape-me-7f3a")
    return parse_config('[web]\nmetrics_token_env = "SOCIALCRM_TEST_METRICS_TOKEN"\n')


async def test_a_metrics_token_is_required_when_configured(aiohttp_client, db: Database, token_config: Config) -> None:
    client = await aiohttp_client(create_app(token_config, db))
    refused = await client.get("/metrics")
    assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    samples = await scrape(client, Authorization="Bearer scrape-me-7f3a")
    assert value(samples, "socialcrm_database_up") == 1


async def test_without_a_token_only_this_machine_may_scrape(aiohttp_client, db: Database) -> None:
    plain = await aiohttp_client(create_app(parse_config(""), db))
    assert value(await scrape(plain), "socialcrm_database_up") == 1  # the test client connects over 127.0.0.1
    # A reverse proxy on this machine forwards outside clients from 127.0.0.1: not local.
    assert (await plain.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})).status == 403
    assert (await plain.get("/metrics", headers={"Forwarded": "for=203.0.113.7"})).status == 403
    behind = await aiohttp_client(create_app(parse_config('[web]\ntrusted_proxies = ["127.0.0.1"]\n'), db))
    assert (await behind.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})).status == 403
    await scrape(behind, **{"X-Forwarded-For": "127.0.0.1"})  # the proxy says the client is local itself


async def test_the_job_queue_of_workers_shows_on_postgres_only(aiohttp_client, db: Database) -> None:
    client = await aiohttp_client(create_app(parse_config(SOURCES), db))
    if db.is_sqlite:  # one process does all the work: no queue to show
        assert value(await scrape(client), "socialcrm_job_queue_jobs", state="waiting") is None
        return
    with db.engine.begin() as conn:
        alive = conn.execute(text("INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id")).scalar_one()
        dead = conn.execute(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (NOW() - interval '10 minutes') RETURNING id"
            )
        ).scalar_one()
        for worker, source in ((alive, "blog"), (dead, "forum")):
            conn.execute(
                text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, status, worker_id) "
                    "VALUES ('poll', :task, :lock, CAST(:args AS jsonb), 'doing', :worker)"
                ),
                {"task": POLL_TASK, "lock": f"poll:{source}", "args": f'{{"source": "{source}"}}', "worker": worker},
            )
        conn.execute(
            text("INSERT INTO procrastinate_jobs (queue_name, task_name, args) VALUES ('send', :task, :args)"),
            {"task": SEND_TASK, "args": '{"item_id": 7}'},
        )
    samples = await scrape(client)
    jobs = {
        state: value(samples, "socialcrm_job_queue_jobs", state=state) for state in ("waiting", "running", "stalled")
    }
    assert jobs == {"waiting": 1, "running": 2, "stalled": 1}
    assert value(samples, "socialcrm_job_queue_waiting_jobs", queue="send") == 1
    assert value(samples, "socialcrm_job_queue_waiting_jobs", queue="poll") == 0
    assert value(samples, "socialcrm_job_queue_workers", state="alive") == 1
    assert value(samples, "socialcrm_job_queue_workers", state="stalled") == 1


async def test_the_runtime_times_its_classifier(db: Database) -> None:
    """Polls of the daemon (and `poll --once`) show up in the classifier's histograms, whatever wraps it."""
    before = process_value("socialcrm_classifier_batch_size_count", classifier="fake")
    runtime = await Runtime.open(parse_config(RULES), db=db, classifier=FakeClassifier())  # type: ignore[arg-type]
    try:
        batch = Batch(posts=[post("blog", 1, "Super Kaffee, toll!")], cursor="c1")
        assert (await runtime.pipeline.process(SourceConfig(name="blog", type="feed"), batch)).new == 1
    finally:
        await runtime.close()
    assert process_value("socialcrm_classifier_batch_size_count", classifier="fake") == before + 1
