"""``socialcrm demo``: the embedded demo that ``make run`` starts, working with no network or credentials.

It serves the sample feeds in socialcrm/demo/feeds from a small local HTTP server, writes a demo
config into a working folder (default ``.demo``), imports sample customers, orders and saved replies, creates
one user per role, and runs the real daemon on it. Credentials go to ``<dir>/credentials.txt``
(readable only by the owner), never to the log.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
from pathlib import Path

from aiohttp import web
from sqlmodel import Session

from socialcrm.config import load_config
from socialcrm.db import open_database
from socialcrm.logs import setup_logging
from socialcrm.models import ROLES

DEMO_DATA = Path(__file__).resolve().parent.parent / "demo"
logger = logging.getLogger("socialcrm.demo")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``socialcrm demo``."""
    p = sub.add_parser("demo", help="run the daemon on the embedded demo configuration (no network needed)")
    p.add_argument("--dir", default=".demo", help="working folder for the demo database and config (default .demo)")
    p.add_argument("--port", type=int, default=int(os.environ.get("SOCIALCRM_DEMO_PORT", "8080")), help="web port")
    p.add_argument("--prepare-only", action="store_true", help="set everything up, print the config path, exit")
    p.set_defaults(func=cmd_demo)


async def start_feed_server() -> tuple[web.AppRunner, str]:
    """Serve the demo feeds on 127.0.0.1 (a random free port); return the runner and base URL."""
    from socialcrm.daemon import bound_port

    app = web.Application()
    app.router.add_static("/feeds/", DEMO_DATA / "feeds", show_index=False)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = bound_port(site, 0)
    return runner, f"http://127.0.0.1:{port}/feeds"


def write_demo_config(folder: Path, feed_base: str, web_port: int) -> Path:
    """Write the demo config into ``folder``, pointed at the local feed server and the web port."""
    text = (DEMO_DATA / "demo.toml").read_text(encoding="utf-8")
    text = text.replace("@FEED_BASE@", feed_base).replace("@WEB_PORT@", str(web_port))
    path = folder / "socialcrm.toml"
    path.write_text(text, encoding="utf-8")
    return path


# The names the demo users sign replies with ({{ agent_name }}), as a real team's would read.
DEMO_SIGNATURES = {"admin": "Jonas Weber", "community": "Lena Hoffmann", "service": "Murat Yilmaz"}


def ensure_demo_users(folder: Path, config_path: Path) -> Path:
    """One user per role, sharing a random password kept in credentials.txt (0600)."""
    from socialcrm.services.users import create_user, list_users

    creds = folder / "credentials.txt"
    config = load_config(config_path)
    db = open_database(config, upgrade=True)
    try:
        with db.write() as session:
            existing = {u.username for u in list_users(session)}
            if not creds.exists() or not all(f"demo-{role}" in existing for role in ROLES):
                password = secrets.token_urlsafe(12)
                for role in ROLES:
                    create_user(
                        session,
                        f"demo-{role}",
                        role,
                        password,
                        actor="demo",
                        display_name=DEMO_SIGNATURES.get(role),
                        replace=True,
                    )
                creds.write_text(
                    "socialcrm demo logins (one per role), all with the same password:\n"
                    + "".join(f"  demo-{role}\n" for role in ROLES)
                    + f"password: {password}\n",
                    encoding="utf-8",
                )
                creds.chmod(0o600)
        with db.write() as session:
            seed_customers(session)
            seed_saved_replies(session)
    finally:
        db.dispose()
    return creds


def seed_customers(session: Session) -> None:
    """Import the sample customers and orders (re-import updates; nothing doubles)."""
    from socialcrm.services.imports import import_customers, import_orders

    customers = DEMO_DATA / "customers.csv"
    orders = DEMO_DATA / "orders.csv"
    import_customers(session, customers.read_bytes(), name=customers.name, actor="demo")
    import_orders(session, orders.read_bytes(), name=orders.name, actor="demo")


def seed_saved_replies(session: Session) -> None:
    """The sample saved replies, the first time only (later edits in the demo are kept)."""
    from socialcrm.cli.reply_cmds import read_file
    from socialcrm.services import saved_replies

    if not saved_replies.list_saved(session):
        saved_replies.import_replies(session, read_file(str(DEMO_DATA / "saved-replies.toml")), actor="demo")


def cmd_demo(args: argparse.Namespace) -> int:
    """Set up the demo in ``--dir`` and run the daemon on it (``--prepare-only``: set up, print the config path)."""
    folder = Path(args.dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    setup_logging(args.log_level or "INFO")
    return asyncio.run(_run_demo(folder, args.port, args.prepare_only))


async def _run_demo(folder: Path, web_port: int, prepare_only: bool) -> int:
    from socialcrm.daemon import Daemon
    from socialcrm.runtime import Runtime, keep_startup_objects_out_of_gc

    feed_runner, feed_base = await start_feed_server()
    try:
        config_path = write_demo_config(folder, feed_base, web_port)
        creds = await asyncio.to_thread(ensure_demo_users, folder, config_path)
        if prepare_only:
            print(config_path)
            return 0
        config = load_config(config_path)
        logger.info("Demo config: %s (sample feeds served at %s)", config_path, feed_base)
        runtime = await Runtime.open(config)
        keep_startup_objects_out_of_gc()
        daemon = Daemon(runtime)
        daemon.install_signal_handlers(asyncio.get_running_loop())
        await daemon.start()
        logger.info("Demo users and password: see %s", creds)
        await daemon.stopping.wait()
        await daemon.stop()
        return 0
    finally:
        await feed_runner.cleanup()
