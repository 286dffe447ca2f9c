"""A real local SMTP server for tests (aiosmtpd on 127.0.0.1, in its own thread) that keeps what it receives.

It can be slow on purpose: ``rcpt_delay`` holds the answer to each RCPT TO (a kill then lands before
the message is sent), ``hold`` holds the answer to the end of the message after it has been kept (a
kill then lands after the server has it, before the sender hears so).
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """The aiosmtpd handler: keeps every message it is given, optionally slowly."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.rcpt_delay: Callable[[], float] = lambda: 0.0
        self.hold: Callable[[], float] = lambda: 0.0
        self.refuse: int | None = None  # answer the end of the message with this code instead of 250
        self.sessions = 0
        self._lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self._lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        await asyncio.sleep(self.rcpt_delay())
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse is not None:
            return f"{self.refuse} not today"
        message = email.message_from_bytes(envelope.content, policy=default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        await asyncio.sleep(self.hold())
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        """The Message-IDs received, in order (a repeated one is a doubled e-mail)."""
        with self._lock:
            return [str(m["Message-ID"]).strip() for m in self.messages]


class SmtpServer:
    """aiosmtpd's Controller on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, ready_timeout=10)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def config(self) -> str:
        """The ``[smtp]`` section that points at this server."""
        return (
            f'[smtp]\nhost = "127.0.0.1"\nport = {self.port}\nsecurity = "none"\n'
            'from_address = "socialcrm@example.com"\ntimeout = 20.0\n'
        )
