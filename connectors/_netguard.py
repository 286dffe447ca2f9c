"""Keeps a source's connections out of loopback, private and link-local address space unless it may go there.

A feed on the internet that redirects to ``http://127.0.0.1:6379/`` or ``http://169.254.169.254/``,
or a host name that resolves to such an address (also one that changes its answer between two
fetches: DNS rebinding), must not make the daemon fetch from inside the network. The check runs
where the connection is opened, on the address actually connected to (aiohttp's
``socket_factory``), so redirects, host names and IP literals all pass through it.

What a source may reach without ``allow_private_network = true``: public addresses, and the
non-public addresses the admin wrote into the source's own options as an IP literal or as
``localhost`` (``url = "http://127.0.0.1:8080/feed.xml"`` is an explicit choice; the demo and the
tests' replay servers rely on it). A host *name* that resolves to a private address needs the
option, since that is exactly what a rebinding attack looks like.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

REFUSED = "refused to connect to"
_LOCALHOST = frozenset({"127.0.0.1", "::1"})


class PrivateAddressRefused(OSError):
    """A connection to a non-public address that this source may not reach."""


def address_kind(address: str) -> str | None:
    """``"loopback"``, ``"private"``, ``"link-local"`` or ``"non-public"`` for such an address; None if public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if not ip.is_global or ip.is_multicast:
        return "non-public"
    return None


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


@dataclass(frozen=True)
class NetworkGuard:
    """Which non-public addresses one source may connect to; ``socket_factory`` enforces it.

    ``treat_as_public`` is a seam for tests only: offline, a "public" server can only be a local
    one, so a test names the loopback address that stands in for the internet.
    """

    allow_private: bool = False
    trusted: frozenset[str] = frozenset()
    treat_as_public: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_urls(
        cls, urls: Iterable[str], *, allow_private: bool = False, treat_as_public: Iterable[str] = ()
    ) -> NetworkGuard:
        """A guard that trusts the IP literals and ``localhost`` written in the source's own URLs."""
        trusted: set[str] = set()
        for url in urls:
            host = urlsplit(url).hostname or ""
            if host == "localhost":
                trusted |= _LOCALHOST
            elif (address := _literal(host)) is not None:
                trusted.add(address)
        return cls(allow_private, frozenset(trusted), frozenset(treat_as_public))

    def check(self, address: str) -> None:
        """Raise PrivateAddressRefused unless this source may connect to ``address``."""
        if self.allow_private:
            return
        plain = _literal(address.split("%", 1)[0]) or address
        if plain in self.trusted or plain in self.treat_as_public:
            return
        kind = address_kind(plain)
        if kind is not None:
            raise PrivateAddressRefused(
                f"{REFUSED} {plain}, a {kind} address this source was not configured with (a redirect "
                "or a host name pointing into the local network); set allow_private_network = true "
                "on the source if it should reach it"
            )

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """aiohttp's hook for opening a connection: check the address, then make the socket as aiohttp would."""
        family, type_, proto, _, sockaddr = addr_info
        self.check(str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)


def refusal(err: BaseException) -> str | None:
    """The guard's explanation when ``err`` (an aiohttp connection error) is its refusal, else None."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, PrivateAddressRefused):
            return str(seen)
        seen = seen.__cause__ or getattr(seen, "os_error", None)
        if seen is not None and REFUSED in str(seen) and not isinstance(seen, PrivateAddressRefused):
            # Happy eyeballs joins the refusals of several addresses into one OSError.
            return str(seen).removeprefix("Multiple exceptions: ")
    return None
