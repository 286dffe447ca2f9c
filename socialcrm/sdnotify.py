"""The systemd notify protocol (sd_notify(3)): tell the service manager READY=1, RELOADING=1, STOPPING=1.

systemd passes ``$NOTIFY_SOCKET``, a Unix datagram socket (a path, or ``@name`` in the abstract
namespace); each message is newline-separated ``KEY=value`` lines. Without the variable (not run
by systemd with ``Type=notify``) every call does nothing. The variable is removed from the
environment once read, so helper processes never speak for the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import time

logger = logging.getLogger(__name__)
NOTIFY_SOCKET = "NOTIFY_SOCKET"


class Notifier:
    """Sends state changes to the service manager, if there is one listening."""

    def __init__(self, address: str | None) -> None:
        self.address: str | None = None
        if not address:
            return
        if address.startswith("@"):
            self.address = "\0" + address[1:]
        elif address.startswith("/"):
            self.address = address
        else:
            logger.warning("%s=%s: only Unix socket paths and @abstract names are supported", NOTIFY_SOCKET, address)

    @classmethod
    def from_environment(cls) -> Notifier:
        """The notifier systemd asked for, taking ``$NOTIFY_SOCKET`` out of the environment."""
        return cls(os.environ.pop(NOTIFY_SOCKET, None))

    @property
    def active(self) -> bool:
        """Whether systemd gave a socket to notify."""
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send one message; a failure is logged, never raised (the daemon works without systemd)."""
        if self.address is None:
            return False
        message = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
        except OSError as err:
            logger.warning("Cannot notify the service manager (%s): %s", NOTIFY_SOCKET, err)
            return False
        return True

    def ready(self, status: str) -> bool:
        """Tell systemd that start-up is over (``Type=notify`` units count as started from here)."""
        return self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> bool:
        """Tell systemd a reload began; ``ready`` ends it."""
        # MONOTONIC_USEC lets newer systemd versions tell this reload from an older one.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=Reloading rules and templates")

    def stopping(self) -> bool:
        """Tell systemd the daemon is shutting down."""
        return self.send("STOPPING=1", "STATUS=Stopping: finishing work in flight")

    def status(self, status: str) -> bool:
        """Set the one-line status ``systemctl status`` shows."""
        return self.send(f"STATUS={status}")
