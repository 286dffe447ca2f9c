"""Run praw off the event loop: one worker thread per source, a requestor that guards writes and JSON.

praw is synchronous and prawcore sleeps with ``time.sleep`` (between retries and to spread
requests over the rate-limit window), so every call runs in the source's own single worker
thread; the loop only awaits it. A single thread also serialises calls on the one ``praw.Reddit``
instance (it is not thread-safe), so a ``find_reply`` queued after a timed-out ``reply`` runs only
once that reply has finished.

``GuardedRequestor`` is passed to praw as ``requestor_class`` (praw's documented hook). It
* stops prawcore from retrying a POST that may have reached Reddit (5xx, read timeout), raising
  ``AmbiguousWrite`` instead, so a reply is never posted twice behind the outbox's back;
* refuses JSON bodies nested deeper than the shared limit before prawcore parses them;
* remembers the last ``X-Ratelimit-*`` headers so a spent budget raises ``RateLimited`` up front
  instead of letting prawcore sleep through the reset window;
* turns a 429 into ``RateLimited`` with its Retry-After read in seconds or as an HTTP date
  (prawcore's own ``TooManyRequests`` reads seconds only and fails with a ValueError on a date).

``guarded_session`` gives prawcore a requests session whose connections pass the source's
``NetworkGuard``, the check aiohttp's sessions make (connectors/_netguard.py): each address a
host name resolves to is checked before connecting and the address connected to once more after
it (a name that changed its answer in between), before a byte is sent. Through a proxy from the
environment (``HTTPS_PROXY``, ``HTTP_PROXY``; ``NO_PROXY`` honoured, as requests does) the proxy
itself is the admin's choice and is not checked, but the host each request goes to is: an IP
literal as it stands, a host name by what this machine resolves it to, before the request leaves
(each redirect again). The proxy connects for us, so the address it finally reaches cannot be
checked; a name this machine cannot resolve is the proxy's to resolve and its policy to allow.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import prawcore
import requests
import requests.adapters
import requests.utils
import urllib3.connection
import urllib3.connectionpool
import urllib3.util

from connectors._http import json_depth_ok, parse_retry_after, rate_limit_wait
from connectors._netguard import NetworkGuard, PrivateAddressRefused
from connectors.base import (
    AuthError,
    ConnectorError,
    MalformedResponseError,
    RateLimited,
    TransientFetchError,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


class AmbiguousWrite(Exception):
    """A POST failed in a way that does not tell whether Reddit acted on it."""


class HostileBody(Exception):
    """A response body nests deeper than connectors accept."""


class RefusedConnection(Exception):
    """The network guard refused an address (not an OSError, so that neither urllib3 nor prawcore retries)."""


class Throttled(Exception):
    """Reddit answered 429; ``retry_after`` is the wait it asked for in seconds (None if it named none)."""

    def __init__(self, url: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP 429 from {url.split('?')[0]}")
        self.retry_after = retry_after


def guarded_session(guard: NetworkGuard) -> requests.Session:
    """A requests session whose every direct connection passes ``guard`` (see the module's docstring)."""

    def check(address: str, host: str, port: int) -> None:
        try:
            guard.check(address)
        except PrivateAddressRefused as err:
            raise RefusedConnection(f"{err} (connecting to {host}:{port})") from err

    class CheckedConnection(urllib3.connection.HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return checked_socket(self, lambda: super(CheckedConnection, self)._new_conn())

    class CheckedHTTPSConnection(urllib3.connection.HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return checked_socket(self, lambda: super(CheckedHTTPSConnection, self)._new_conn())

    def checked_socket(conn: urllib3.connection.HTTPConnection, connect: Callable[[], socket.socket]) -> socket.socket:
        host, port = conn._dns_host, conn.port or 0  # the name urllib3 connects to
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)}
        except OSError:
            addresses = set()  # urllib3 reports the failed look-up itself
        for address in sorted(addresses):
            check(address, host, port)
        sock = connect()
        try:
            check(str(sock.getpeername()[0]), host, port)
        except BaseException:
            sock.close()
            raise
        return sock

    class CheckedPool(urllib3.connectionpool.HTTPConnectionPool):
        ConnectionCls = CheckedConnection

    class CheckedHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
        ConnectionCls = CheckedHTTPSConnection

    def check_through_proxy(url: str) -> None:
        parts = urllib3.util.parse_url(url)
        host, port = (parts.host or "").strip("[]"), parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)}
        except OSError:
            addresses = set()  # not resolvable here: the proxy resolves it (see the module's docstring)
        for address in sorted(addresses):
            check(address, host, port)

    class CheckedAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": CheckedPool, "https": CheckedHTTPSPool}

        def send(
            self,
            request: requests.PreparedRequest,
            stream: bool = False,
            timeout: Any = None,
            verify: Any = True,
            cert: Any = None,
            proxies: Any = None,
        ) -> requests.Response:
            if request.url and requests.utils.select_proxy(request.url, proxies or {}):
                check_through_proxy(request.url)
            return super().send(request, stream, timeout, verify, cert, proxies)

    session = requests.Session()
    session.mount("http://", CheckedAdapter())
    session.mount("https://", CheckedAdapter())
    return session


class GuardedRequestor(prawcore.Requestor):
    """prawcore's requestor plus the write, JSON-depth and rate-limit guards described above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wait_until: float | None = None

    def _is_token_call(self, url: str) -> bool:
        return "/api/v1/access_token" in url or "/api/v1/revoke_token" in url

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        method = str(args[0] if args else kwargs.get("method", "")).upper()
        url = str(args[1] if len(args) > 1 else kwargs.get("url", ""))
        write = method == "POST" and not self._is_token_call(url)
        try:
            # prawcore always passes its module-wide default; the source's own timeout wins.
            response = super().request(*args, timeout=self.timeout, **kwargs)
        except prawcore.exceptions.RequestException as err:
            if isinstance(err.original_exception, RefusedConnection):
                raise err.original_exception from err  # nothing was sent
            if write and not isinstance(err.original_exception, requests.exceptions.ConnectTimeout):
                raise AmbiguousWrite(f"{method} {url}: {err.original_exception!r}") from err
            raise
        wait = rate_limit_wait(response.headers)  # type: ignore[arg-type]
        self.wait_until = time.time() + wait if wait else None
        if response.status_code == 429:
            raise Throttled(url, wait)
        if write and response.status_code >= 500:
            raise AmbiguousWrite(f"{method} {url}: HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "")
        if "json" in content_type and response.content and not json_depth_ok(response.content):
            raise HostileBody(f"{url} answered with JSON nested too deep")
        return response


class PrawRunner:
    """Owns the worker thread and translates praw/prawcore failures into connector errors."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.requestor: GuardedRequestor | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"praw-{source}")

    def requestor_class(self) -> type[GuardedRequestor]:
        """A requestor class for ``praw.Reddit(requestor_class=...)`` that reports its instance here."""
        runner = self

        class BoundRequestor(GuardedRequestor):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                runner.requestor = self

        return BoundRequestor

    def check_budget(self) -> None:
        """Raise RateLimited (in the worker) while the last headers said the budget is spent."""
        wait_until = self.requestor.wait_until if self.requestor else None
        if wait_until is not None and wait_until > time.time():
            remaining = wait_until - time.time()
            raise RateLimited(self.source, f"Reddit rate-limit budget spent for {remaining:.0f} s", remaining)

    async def run(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, work)
        except ConnectorError:
            raise
        except Exception as err:  # noqa: BLE001 - every library failure is translated here
            raise self.translate(err) from err

    def translate(self, err: Exception) -> ConnectorError:
        source = self.source
        if isinstance(err, RefusedConnection):
            return ConnectorError(source, str(err))
        if isinstance(err, Throttled):
            return RateLimited(source, str(err), err.retry_after)
        if isinstance(err, HostileBody):
            return MalformedResponseError(source, str(err))
        if isinstance(err, AmbiguousWrite):
            return TransientFetchError(source, f"the write may or may not have gone through: {err}")
        if isinstance(err, prawcore.exceptions.OAuthException):
            return AuthError(source, f"Reddit refused the credentials: {err}")
        if isinstance(err, prawcore.exceptions.BadJSON):
            return MalformedResponseError(source, f"Reddit answered with a body that is not JSON ({err.response.url})")
        if isinstance(err, prawcore.exceptions.ResponseException):
            return self._from_status(err)
        if isinstance(err, prawcore.exceptions.RequestException):
            return TransientFetchError(source, f"network error talking to Reddit: {err.original_exception!r}")
        if isinstance(err, RecursionError | ValueError | UnicodeDecodeError):
            return MalformedResponseError(source, f"Reddit answered with unusable JSON: {err!r}")
        return ConnectorError(source, f"{type(err).__name__}: {err}")

    def _from_status(self, err: prawcore.exceptions.ResponseException) -> ConnectorError:
        response = err.response
        status = response.status_code
        where = f"HTTP {status} from {response.url.split('?')[0]}"
        if status in (401, 403) or (status == 400 and "access_token" in response.url):
            return AuthError(self.source, where)
        if status >= 500:
            return TransientFetchError(self.source, where, parse_retry_after(response.headers.get("Retry-After")))
        if isinstance(err, prawcore.exceptions.Redirect | prawcore.exceptions.NotFound):
            return ConnectorError(self.source, f"{where}: no such subreddit or listing")
        return ConnectorError(self.source, where)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
