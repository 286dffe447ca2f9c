"""The daemon: polls, outbox, housekeeping and web app, stopped cleanly by SIGTERM/SIGINT.

Three roles share this code. ``run`` does everything in one process: on SQLite with APScheduler
(the default setup), on PostgreSQL as a worker of the job queue plus the web app. ``worker``
(PostgreSQL only) takes jobs from the queue and serves no web app; any number run on any machines.
``web`` serves only the web app and does no polling or sending.

SIGHUP reloads the rules and templates from the config file without a restart; a config that does
not load keeps the rules in force and logs why. Under systemd (``Type=notify``) the daemon reports
READY=1 once it serves, RELOADING=1 around a reload, STOPPING=1 when it stops (socialcrm/sdnotify.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from aiohttp import web

from socialcrm.config import Config, load_config
from socialcrm.db import Database, open_database
from socialcrm.durations import parse_duration
from socialcrm.errors import ConfigError
from socialcrm.jobs.worker import QueueWork
from socialcrm.models import utcnow
from socialcrm.rules.loader import compile_rules
from socialcrm.rules.ruleset import RuleSet
from socialcrm.runtime import Runtime, keep_startup_objects_out_of_gc
from socialcrm.scheduler import Scheduler
from socialcrm.sdnotify import Notifier
from socialcrm.services import alerts, digests, sources

logger = logging.getLogger(__name__)
Role = Literal["run", "worker", "web"]
RETRY_CHECK = timedelta(minutes=1)  # how often mentions whose linking or rules failed are looked at


class Daemon:
    """One running socialcrm process in one of its roles (``runtime`` is None for the web app alone)."""

    def __init__(
        self,
        runtime: Runtime | None,
        notifier: Notifier | None = None,
        *,
        role: Role = "run",
        config: Config | None = None,
        db: Database | None = None,
    ) -> None:
        self.runtime = runtime
        self.role: Role = role
        if runtime is not None:
            config, db = runtime.config, runtime.db
        assert config is not None and db is not None, "the web app alone needs a config and a database"
        self.config: Config = config
        self.db: Database = db
        self.scheduler = Scheduler()
        self.queue: QueueWork | None = None
        self.web_runner: web.AppRunner | None = None
        self.web_app: web.Application | None = None
        self.web_url: str | None = None
        self.stopping = asyncio.Event()
        self.notifier = notifier or Notifier(None)
        self._reload_lock = asyncio.Lock()
        self._reloads: set[asyncio.Task[bool]] = set()

    async def start(self) -> None:
        """Start this role's work (local schedule or queue worker) and, where it serves one, the web app."""
        if self.runtime is not None:
            await self.db.run_write(sources.retry_auth_failures)
            if self.db.is_sqlite:
                self._schedule_locally(self.runtime)
            else:
                if self.role == "worker":
                    # Jobs only, no web app: its writes need no lock within the process (Database.write_concurrently).
                    self.db.write_concurrently()
                self.queue = QueueWork(self.runtime, self.role)
                await self.queue.start()
                if self.role == "run":
                    # `run` polls every source when it starts, on PostgreSQL as on SQLite (and as the first
                    # release did); a `worker` start follows the schedule kept in the queue.
                    logger.info("Polling every source now: %s", await self.queue.poll_everything_now())
        if self.role == "web" or (self.role == "run" and self.config.web.enabled):
            await self._start_web()

    def _schedule_locally(self, runtime: Runtime) -> None:
        """One process, APScheduler: every source, the outbox and housekeeping on their intervals."""
        for source in self.config.sources:
            if not source.enabled:
                logger.info("Source %s is disabled in the config", source.name)
                continue
            poller = runtime.poller(source)
            if poller is None:
                continue
            self.scheduler.every(f"poll:{source.name}", source.interval_delta, poller.run_once)
        self.scheduler.every(
            "outbox",
            parse_duration(self.config.daemon.outbox_interval),
            runtime.outbox.run_once,
            first_run_within=2.0,
        )
        self.scheduler.every("housekeeping", parse_duration("1h"), self._housekeeping, first_run_within=60.0)
        if self.config.smtp is not None:
            self.scheduler.every("digests", parse_duration("15m"), self._queue_digests, first_run_within=30.0)
        if self.config.alerts.enabled:
            every = parse_duration(self.config.alerts.check_every)
            self.scheduler.every("alerts", every, self._check_alerts, first_run_within=min(5.0, every.total_seconds()))
        self.scheduler.every("retries", RETRY_CHECK, runtime.retry_failed, first_run_within=30.0)
        self.scheduler.start()

    async def _start_web(self) -> None:
        from socialcrm.web.app import create_app

        classifier = self.runtime.classifier if self.runtime is not None else None
        app = create_app(self.config, self.db, classifier=classifier)
        self.web_app = app
        from socialcrm.web.access_log import access_log_options

        self.web_runner = web.AppRunner(app, handle_signals=False, **access_log_options(self.config.web.access_log))
        await self.web_runner.setup()
        site = web.TCPSite(self.web_runner, self.config.web.host, self.config.web.port)
        await site.start()
        port = bound_port(site, self.config.web.port)
        host = self.config.web.host
        shown = f"[{host}]" if ":" in host else host
        self.web_url = self.config.web.public_url or f"http://{shown}:{port}"
        logger.info("Web app listening: log in at %s/login", self.web_url.rstrip("/"))

    async def _housekeeping(self) -> None:
        from socialcrm.services.housekeeping import run_housekeeping

        await self.db.run_write(lambda s: run_housekeeping(s, self.config))

    async def _check_alerts(self) -> None:
        """Queue alerts for spikes in the window in progress (the outbox sends them)."""
        config = self.config
        await self.db.run_write(lambda s: alerts.check(s, config, utcnow()))

    async def _queue_digests(self) -> None:
        """Queue last week's digest for the users who opted in (the outbox sends them)."""
        config = self.config
        await self.db.run_write(lambda s: digests.check(s, config, utcnow()))

    async def run_until_stopped(self) -> int:
        """Start, wait for a stop signal (or the queue worker failing), then stop cleanly; return the exit code."""
        await self.start()
        self.notifier.ready(self.status())
        stop_asked = asyncio.ensure_future(self.stopping.wait())
        waits: set[asyncio.Future[Any]] = {stop_asked}
        if self.queue is not None and self.queue.finished is not None:
            waits.add(self.queue.finished)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        code = 0
        if not self.stopping.is_set():
            # The queue worker stopped and could not start again (jobs/supervisor.py: the database stayed
            # unreachable for minutes). Exit non-zero so that systemd or the container restarts the process.
            logger.error("The queue worker stopped on its own and did not start again; stopping the process")
            stop_asked.cancel()
            code = 1
        await self.stop()
        return code

    def status(self) -> str:
        """One line for ``systemctl status``."""
        web_part = f"web app at {self.web_url}" if self.web_url else "web app off"
        if self.runtime is None:
            return f"Running: {web_part} (no polling here)"
        usable = sum(1 for s in self.config.sources if s.enabled and s.name in self.runtime.connectors)
        if self.queue is not None:
            work = f"queue worker {self.queue.name} for {usable} source(s)"
        else:
            work = f"{usable} source(s) scheduled"
        return f"Running: {work}, {len(self.config.rules)} rule(s), {web_part}"

    async def reload(self) -> bool:
        """Load the config file again and put its rules and templates in force; keep the old ones if it fails."""
        async with self._reload_lock:
            self.notifier.reloading()
            try:
                return await self._reload()
            finally:
                self.notifier.ready(self.status())

    async def _reload(self) -> bool:
        old = self.config
        if old.path is None:
            logger.error("Reload: the config was not read from a file; nothing to reload")
            return False
        try:
            new = await asyncio.to_thread(load_config, old.path)
            # Rules may only name webhooks the running outbox knows; new webhooks need a restart.
            ruleset = compile_rules(list(new.rules), new.templates, webhooks={w.name for w in old.webhooks})
        except ConfigError as err:
            logger.error(
                "Reload of %s failed; the %d rule(s) in force stay: %s",
                old.path,
                len(old.rules),
                "; ".join(err.problems),
            )
            return False
        restart_needed = sorted(
            key
            for key in {*old.raw, *new.raw}
            if key not in ("rules", "templates") and old.raw.get(key) != new.raw.get(key)
        )
        if restart_needed:
            logger.warning("Reload: changes to %s take effect after a restart", ", ".join(restart_needed))
        self._use_rules(dataclasses.replace(old, rules=new.rules, templates=new.templates), ruleset)
        logger.info("Reloaded %d rule(s) and %d template(s) from %s", len(new.rules), len(new.templates), old.path)
        if self.runtime is not None:
            await asyncio.to_thread(self.runtime.warn_about_rule_labels)
        return True

    def _use_rules(self, config: Config, ruleset: RuleSet) -> None:
        self.config = config
        if self.runtime is not None:
            self.runtime.config = config
            self.runtime.ruleset = ruleset
            self.runtime.pipeline.config = config
            self.runtime.pipeline.ruleset = ruleset
        if self.web_app is not None:
            from socialcrm.web.views.admin import RULES_KEY

            self.web_app[RULES_KEY].replace(config.rules, config.templates, ruleset)

    async def stop(self) -> None:
        """Finish in-flight work, store it, close everything."""
        self.notifier.stopping()
        logger.info("Stopping: finishing work in flight")
        grace = parse_duration(self.config.daemon.shutdown_grace).total_seconds()
        await self.scheduler.shutdown(grace)
        if self.queue is not None:
            await self.queue.stop(grace)
        if self.web_runner is not None:
            await self.web_runner.cleanup()
        if self.runtime is not None:
            await self.runtime.close()
        else:
            await asyncio.to_thread(self.db.dispose)
        logger.info("Stopped")

    def install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let SIGTERM and SIGINT ask the daemon to stop."""

        def stop(signame: str) -> Callable[[], None]:
            def handler() -> None:
                if not self.stopping.is_set():
                    logger.info("Received %s", signame)
                self.stopping.set()

            return handler

        def reload() -> None:
            logger.info("Received SIGHUP: reloading rules and templates")
            task = loop.create_task(self.reload())
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop(sig.name))
        loop.add_signal_handler(signal.SIGHUP, reload)


def bound_port(site: web.TCPSite, default: int) -> int:
    """The port a started site listens on (the one the OS picked when ``default`` is 0)."""
    server = site._server
    sockets = getattr(server, "sockets", None)
    if sockets:
        return int(sockets[0].getsockname()[1])
    return default


async def run_daemon(config: Config, role: Role = "run") -> int:
    """Run in ``role`` until SIGTERM/SIGINT; return the exit code."""
    notifier = Notifier.from_environment()
    loop = asyncio.get_running_loop()
    # Until the handlers below are installed, SIGHUP's default action would end the process.
    loop.add_signal_handler(signal.SIGHUP, lambda: logger.warning("SIGHUP while starting: nothing to reload yet"))
    if role == "web":
        db = await asyncio.to_thread(open_database, config, upgrade=True)
        daemon = Daemon(None, notifier, role=role, config=config, db=db)
    else:
        runtime = await Runtime.open(config, start_shared=True)  # parser processes start beside the model
        keep_startup_objects_out_of_gc()
        daemon = Daemon(runtime, notifier, role=role)
    daemon.install_signal_handlers(loop)
    return await daemon.run_until_stopped()
