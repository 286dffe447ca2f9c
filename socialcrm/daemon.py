"""The daemon: scheduler, outbox, housekeeping and web app in one process, stopped cleanly by SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web
from sqlalchemy import update
from sqlmodel import Session, col

from socialcrm.config import Config
from socialcrm.durations import parse_duration
from socialcrm.models import SourceState
from socialcrm.runtime import Runtime
from socialcrm.scheduler import Scheduler

logger = logging.getLogger(__name__)


class Daemon:
    """One running socialcrm instance."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.config: Config = runtime.config
        self.scheduler = Scheduler()
        self.web_runner: web.AppRunner | None = None
        self.web_url: str | None = None
        self.stopping = asyncio.Event()

    async def start(self) -> None:
        """Schedule every source, the outbox and housekeeping; start the web app."""
        await self.runtime.db.run_write(_retry_auth_failures_on_start)
        for source in self.config.sources:
            if not source.enabled:
                logger.info("Source %s is disabled in the config", source.name)
                continue
            poller = self.runtime.poller(source)
            if poller is None:
                continue
            self.scheduler.every(f"poll:{source.name}", source.interval_delta, poller.run_once)
        self.scheduler.every(
            "outbox",
            parse_duration(self.config.daemon.outbox_interval),
            self.runtime.outbox.run_once,
            first_run_within=2.0,
        )
        self.scheduler.every("housekeeping", parse_duration("1h"), self._housekeeping, first_run_within=60.0)
        self.scheduler.start()
        if self.config.web.enabled:
            await self._start_web()

    async def _start_web(self) -> None:
        from socialcrm.web.app import create_app

        app = create_app(self.config, self.runtime.db)
        self.web_runner = web.AppRunner(app, access_log=None, handle_signals=False)
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

        await self.runtime.db.run_write(lambda s: run_housekeeping(s, self.config))

    async def run_until_stopped(self) -> None:
        await self.start()
        await self.stopping.wait()
        await self.stop()

    async def stop(self) -> None:
        """Finish in-flight work, store it, close everything."""
        logger.info("Stopping: finishing work in flight")
        grace = parse_duration(self.config.daemon.shutdown_grace).total_seconds()
        await self.scheduler.shutdown(grace)
        if self.web_runner is not None:
            await self.web_runner.cleanup()
        await self.runtime.close()
        logger.info("Stopped")

    def install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        def stop(signame: str) -> Callable[[], None]:
            def handler() -> None:
                if not self.stopping.is_set():
                    logger.info("Received %s", signame)
                self.stopping.set()

            return handler

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop(sig.name))


def bound_port(site: web.TCPSite, default: int) -> int:
    """The port a started site listens on (the one the OS picked when ``default`` is 0)."""
    server = site._server
    sockets = getattr(server, "sockets", None)
    if sockets:
        return int(sockets[0].getsockname()[1])
    return default


def _retry_auth_failures_on_start(session: Session) -> None:
    """A restart is the moment an admin has fixed credentials: try paused-by-auth sources once more."""
    session.exec(update(SourceState).where(col(SourceState.state) == "auth_failed").values(state="new"))


async def run_daemon(config: Config) -> int:
    """Run until SIGTERM/SIGINT; return the exit code."""
    runtime = await Runtime.open(config)
    daemon = Daemon(runtime)
    daemon.install_signal_handlers(asyncio.get_running_loop())
    await daemon.run_until_stopped()
    return 0
