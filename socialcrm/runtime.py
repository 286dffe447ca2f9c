"""Builds the working parts from a Config: database, classifier, rules, HTTP, connectors, pipeline.

Both the daemon and one-shot commands (``socialcrm poll --once``) use the same Runtime, so a poll
from the command line goes through exactly the code the daemon runs.

With more than one usable core and a classifier that runs beside parsing (``classifiers.portable``:
the word-list one), connectors that parse in processes of their own (feeds) classify each entry there
(``connectors.EntryHook``): that work leaves the daemon's busy core for the one the parsers share.
The hook is set on each connector the runtime builds, so two runtimes in one process keep their own.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from classifiers.base import Classifier
from classifiers.loader import build_classifier
from classifiers.portable import PortableRecipe, portable_recipe, recipe_of
from connectors import Connector, EntryHook, PreparesEntries, SharedResources, SharedStart, make_session, usable_cpus
from socialcrm.classifying import Classification
from socialcrm.config import Config, SourceConfig
from socialcrm.db import Database, open_database
from socialcrm.models import utcnow
from socialcrm.monitoring.instruments import TimedClassifier, timed
from socialcrm.outbox import OutboxWorker
from socialcrm.pipeline import Pipeline
from socialcrm.poller import Poller, PollResult
from socialcrm.registry import load_connector_class
from socialcrm.rules.loader import compile_rules
from socialcrm.rules.ruleset import RuleSet
from socialcrm.secret_mask import mask_secrets
from socialcrm.services import ingest, label_predictions
from socialcrm.services.label_enricher import LabelEnricher

logger = logging.getLogger(__name__)
PER_SOURCE_CONNECTIONS = 8
# Sources one ``poll_once`` polls at a time. Enough to keep fetching, parsing, classifying and storing
# busy at once; more only adds pages waiting in memory and work for the event loop. Measured with
# bench/bench_ingest.py's 1,000 feeds x 50 new posts: 1.05 CPU ms per mention with all 1,000 at once,
# 0.94 with 48.
POLL_CONCURRENCY = 48
CLASSIFY_ENTRIES = "classifiers.portable:analyse_entries"  # the EntryHook function of a portable classifier


@dataclass
class Runtime:
    """Everything a poll or the daemon needs, opened once."""

    config: Config
    db: Database
    classification: Classification
    ruleset: RuleSet
    http: aiohttp.ClientSession
    connectors: dict[str, Connector] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    source_sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)
    pipeline: Pipeline = field(init=False)
    outbox: OutboxWorker = field(init=False)

    def __post_init__(self) -> None:
        labels = LabelEnricher(self.db, self.config.daemon.max_text_chars)
        self.pipeline = Pipeline(self.config, self.db, self.classification, self.ruleset, enrichers=[labels])
        self.outbox = OutboxWorker(self.config, self.db, self.connectors, self.http)

    @classmethod
    async def open(
        cls,
        config: Config,
        *,
        db: Database | None = None,
        classifier: Classifier | None = None,
        lazy_classifier: bool = False,
        start_shared: bool = False,
    ) -> Runtime:
        """Open the database (migrating it), load the classifier off the loop, build connectors.

        With ``lazy_classifier`` the model is loaded only when a first new post needs it (``poll``).
        With ``start_shared`` (the daemon, queue workers) what connector classes share, such as the
        feed parser processes, starts now, while the model loads, instead of at the first fetch.
        """
        starting = asyncio.create_task(_start_shared(config.sources)) if start_shared else None
        try:
            runtime = await cls._open(config, db, classifier, lazy_classifier)
        except BaseException:
            if starting is not None:
                starting.cancel()
            raise
        if starting is not None:
            await starting
        return runtime

    @classmethod
    async def _open(
        cls, config: Config, db: Database | None, classifier: Classifier | None, lazy_classifier: bool
    ) -> Runtime:
        database = db if db is not None else await asyncio.to_thread(open_database, config, upgrade=True)
        size = config.classifier.batch_size

        limit = config.daemon.max_text_chars

        def build() -> Classifier:
            logger.info("Loading the %r sentiment classifier", config.classifier.kind)
            return build_classifier(config.classifier.kind, config.classifier.options())

        if classifier is None and lazy_classifier:
            portable = portable_recipe(config.classifier.kind, config.classifier.options(), limit)
            classification = Classification(
                build=lambda: timed(build()), batch_size=size, portable=_beside(portable, config)
            )
        else:
            built = classifier if classifier is not None else await asyncio.to_thread(build)
            portable = recipe_of(built.inner if isinstance(built, TimedClassifier) else built, limit)
            classification = Classification(timed(built), batch_size=size, portable=_beside(portable, config))
        ruleset = compile_rules(list(config.rules), config.templates, webhooks={w.name for w in config.webhooks})
        http = make_session()
        runtime = cls(config=config, db=database, classification=classification, ruleset=ruleset, http=http)
        for source in config.sources:
            runtime._build_connector(source)
        await asyncio.to_thread(runtime.warn_about_rule_labels)
        return runtime

    def warn_about_rule_labels(self) -> list[label_predictions.RuleLabelProblem]:
        """Log (and return) the labels that enabled rules name but that are not switched on: they match nothing yet."""
        labels_by_rule = self.ruleset.labels_by_rule
        if not labels_by_rule:
            return []
        with self.db.read() as session:
            problems = label_predictions.rule_label_problems(session, labels_by_rule)
        for problem in problems:
            logger.warning("%s", problem)
        return problems

    @property
    def classifier(self) -> Classifier | None:
        """The loaded sentiment classifier (None while a lazy one waits for a first new post)."""
        return self.classification.classifier() if self.classification.loaded else None

    def _build_connector(self, source: SourceConfig) -> None:
        """Build the source's connector with an HTTP session (connection pool) of its own.

        A session per source bounds what a hanging source can hold to its own connections; the
        shared ``http`` session is left to webhooks.
        """
        try:
            connector_cls = load_connector_class(source.type)
            session = self.source_sessions.get(source.name) or make_session(
                connections=PER_SOURCE_CONNECTIONS, guard=source.network_guard()
            )
            self.source_sessions[source.name] = session
            connector = connector_cls(source.name, source.options, session)
            if isinstance(connector, PreparesEntries):
                portable = self.classification.portable
                connector.prepare_entries_with(EntryHook(CLASSIFY_ENTRIES, portable) if portable else None)
            self.connectors[source.name] = connector
        except Exception as err:  # noqa: BLE001 - one broken source must not stop the others
            logger.error("Source %s cannot start: %s", source.name, err)
            self.broken[source.name] = mask_secrets(str(err), source.secret_values())

    def poller(self, source: SourceConfig) -> Poller | None:
        """The poller of ``source``; None when its connector could not be built."""
        connector = self.connectors.get(source.name)
        if connector is None:
            return None
        return Poller(source, connector, self.pipeline, max_pages=self.config.daemon.max_pages_per_poll)

    async def poll_once(self, names: list[str] | None = None, *, force: bool = False) -> list[PollResult]:
        """Poll the named (default: all enabled) sources once, concurrently (``POLL_CONCURRENCY`` at a time)."""
        sources = [s for s in self.config.sources if (names is None and s.enabled) or (names and s.name in names)]
        slots = asyncio.Semaphore(POLL_CONCURRENCY)

        async def one(source: SourceConfig) -> PollResult:
            poller = self.poller(source)
            if poller is None:
                return PollResult(source=source.name, errors=1, error=self.broken.get(source.name, "not built"))
            async with slots:
                return await poller.run_once(force=force)

        results = await asyncio.gather(*(one(s) for s in sources), return_exceptions=True)
        for failure in results:
            if isinstance(failure, BaseException):
                raise failure  # a classifier that cannot load (pollers record every source error themselves)
        return [r for r in results if isinstance(r, PollResult)]

    async def retry_failed(self) -> ingest.Processed:
        """Link and act on stored mentions whose earlier try failed and whose retry is due (``services.retries``)."""
        now = utcnow()
        processed = await self.db.run_write(lambda s: ingest.retry_due(s, self.config, self.pipeline.ruleset, now))
        if processed.done or processed.failed:
            logger.info(
                "Retried %d mention(s): %d went through, %d failed again",
                len(processed.done) + len(processed.failed),
                len(processed.done),
                len(processed.failed),
            )
        return processed

    async def close(self) -> None:
        """Close every connector, the HTTP session, what connector classes share, and the database."""
        for name, connector in self.connectors.items():
            try:
                await connector.aclose()
            except Exception:  # noqa: BLE001 - closing must reach every connector
                logger.exception("Closing source %s failed", name)
        for session in self.source_sessions.values():
            await session.close()
        await self.http.close()
        self.classification.close()
        for connector_class in {type(connector) for connector in self.connectors.values()}:
            if isinstance(connector_class, SharedResources):
                connector_class.close_shared()
        await asyncio.to_thread(self.db.dispose)


def _beside(portable: PortableRecipe | None, config: Config) -> PortableRecipe | None:
    """The recipe to classify beside parsing with: where the parsers have a core of their own, unless switched off.

    ``[daemon] classify_in_parsers = false`` saves each feed parser process the language model (~90 MB).
    """
    if not config.daemon.classify_in_parsers or usable_cpus() < 2:
        return None
    return portable


async def _start_shared(sources: Sequence[SourceConfig]) -> None:
    """Start the shared resources of the connector classes of ``sources`` (``SharedStart``); never raises."""
    classes: dict[str, object] = {}
    for source in sources:
        if source.enabled and source.type not in classes:
            try:
                classes[source.type] = load_connector_class(source.type)
            except Exception:  # noqa: BLE001 - building the connector reports it properly
                continue
    for connector_class in classes.values():
        if isinstance(connector_class, SharedStart):
            try:
                await connector_class.start_shared()
            except Exception as err:  # noqa: BLE001 - the first fetch starts it again and reports why
                logger.warning("%s could not start ahead of the first poll: %s", connector_class, err)


def keep_startup_objects_out_of_gc() -> None:
    """Exempt what start-up loaded (modules, the model: ~340,000 objects) from the cyclic GC.

    They live as long as the process. Left in the GC's care, every full collection walks them (about
    half a second on the event loop) and interpreter exit spends 4-5 s collecting them after the daemon
    has stopped. Call it once, in the process that owns the Runtime, after ``Runtime.open``. A frozen
    object dropped later (the start-up rules, once a reload replaces them) is still freed by reference
    counting; only if it sits in a reference cycle does it stay until exit: once, some tens of KiB
    (the compiled rules of config.example.toml take 29 KiB).
    """
    gc.collect()  # start-up garbage is freed first, not kept for good
    gc.freeze()
