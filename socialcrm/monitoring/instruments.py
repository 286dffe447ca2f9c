"""What this process observes as it works (polls, classifier batches, outbox deliveries, web requests), kept in memory.

These are events, counted and timed where they happen, on ``PROCESS_REGISTRY`` (never the library's
global default registry, so importing socialcrm registers nothing behind a host program's back).
They start from zero when the process starts; Prometheus's ``rate()`` and ``increase()`` treat that
as a counter reset. What must survive a restart or be the same whichever process is scraped is read
from the database at scrape time instead (socialcrm/monitoring/stored.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from classifiers.base import Analysis, Classifier, Language

PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds: from a cached 304 (milliseconds) to a slow platform paging (a minute).
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

SOURCE_POLLS = Counter(
    "socialcrm_source_polls",
    "Polls of a source by this process, by outcome (ok, not_modified, failed, skipped).",
    ["source", "outcome"],
    registry=PROCESS_REGISTRY,
)
POLL_SECONDS = Histogram(
    "socialcrm_poll_duration_seconds",
    "How long one poll of a source took (fetching and storing every page), by source type.",
    ["type"],
    buckets=_SECONDS,
    registry=PROCESS_REGISTRY,
)
PIPELINE_POSTS = Counter(
    "socialcrm_pipeline_posts",
    "Posts the pipeline handled in this process, by outcome (new: stored as a mention; duplicate; error).",
    ["outcome"],
    registry=PROCESS_REGISTRY,
)
PIPELINE_BATCH_SECONDS = Histogram(
    "socialcrm_pipeline_batch_duration_seconds",
    "How long the pipeline took for one fetched page (classify, link, rules, store).",
    buckets=_SECONDS,
    registry=PROCESS_REGISTRY,
)
CLASSIFIER_SECONDS = Histogram(
    "socialcrm_classifier_batch_duration_seconds",
    "How long the sentiment classifier took for one batch of texts.",
    ["classifier"],
    buckets=_SECONDS,
    registry=PROCESS_REGISTRY,
)
CLASSIFIER_BATCH_SIZE = Histogram(
    "socialcrm_classifier_batch_size",
    "How many texts one classifier batch held.",
    ["classifier"],
    buckets=_BATCH_SIZES,
    registry=PROCESS_REGISTRY,
)
OUTBOX_DELIVERIES = Counter(
    "socialcrm_outbox_deliveries",
    "Outbox rows this process tried to deliver, by kind and outcome "
    "(sent, manual, failed, retrying: it will be tried again, taken_over: another worker held it).",
    ["kind", "outcome"],
    registry=PROCESS_REGISTRY,
)
OUTBOX_SECONDS = Histogram(
    "socialcrm_outbox_delivery_duration_seconds",
    "How long one delivery attempt took (look-up, post, recording the outcome), by kind.",
    ["kind"],
    buckets=_SECONDS,
    registry=PROCESS_REGISTRY,
)
HTTP_SECONDS = Histogram(
    "socialcrm_http_request_duration_seconds",
    "Web app and API request latency, by method, route pattern (e.g. /tickets/{id}) and status code.",
    ["method", "route", "status"],
    buckets=_SECONDS,
    registry=PROCESS_REGISTRY,
)


def observe_poll(source: str, source_type: str, outcome: str, seconds: float) -> None:
    """Count one poll of ``source`` and time it (a skipped poll is counted, not timed)."""
    SOURCE_POLLS.labels(source=source, outcome=outcome).inc()
    if outcome != "skipped":
        POLL_SECONDS.labels(type=source_type).observe(seconds)


def observe_batch(new: int, duplicates: int, errors: int, seconds: float) -> None:
    """Count what the pipeline made of one page and time it."""
    for outcome, count in (("new", new), ("duplicate", duplicates), ("error", errors)):
        if count > 0:
            PIPELINE_POSTS.labels(outcome=outcome).inc(count)
    PIPELINE_BATCH_SECONDS.observe(seconds)


def observe_delivery(kind: str, outcome: str, seconds: float) -> None:
    """Count one outbox delivery attempt by its outcome and time it."""
    OUTBOX_DELIVERIES.labels(kind=kind, outcome=outcome).inc()
    OUTBOX_SECONDS.labels(kind=kind).observe(seconds)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Time one HTTP request."""
    HTTP_SECONDS.labels(method=method, route=route, status=str(status)).observe(seconds)


class TimedClassifier:
    """A classifier that times each batch and records its size; otherwise it is the classifier it wraps."""

    kind: ClassVar[str] = "timed"

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self._label = type(inner).kind
        self._seconds = CLASSIFIER_SECONDS.labels(classifier=self._label)
        self._sizes = CLASSIFIER_BATCH_SIZE.labels(classifier=self._label)

    def analyse(self, texts: Sequence[str], languages: Sequence[Language | None] | None = None) -> list[Analysis]:
        """The wrapped classifier's ``analyse``, timed (a batch that raises is timed too)."""
        started = time.perf_counter()
        try:
            return self.inner.analyse(texts, languages)
        finally:
            self._seconds.observe(time.perf_counter() - started)
            self._sizes.observe(len(texts))

    def __getattr__(self, name: str) -> Any:
        """Anything else (a classifier's own extras) comes from the wrapped classifier."""
        return getattr(self.inner, name)


def timed(classifier: Classifier) -> Classifier:
    """``classifier`` wrapped in a TimedClassifier (once: an already timed one is returned as it is)."""
    return classifier if isinstance(classifier, TimedClassifier) else TimedClassifier(classifier)
