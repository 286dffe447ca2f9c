"""A forward HTTP proxy on 127.0.0.1 for tests: plain requests in absolute form, and CONNECT tunnels.

Each client connection carries one request (the proxy asks the server to close after it) or one
tunnel; ``seen`` lists every request line the proxy was asked, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class ForwardProxy:
    """``HTTP_PROXY=proxy.url``: forwards what clients ask to the servers named in their request lines."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the value for ``HTTP_PROXY`` and ``HTTPS_PROXY``."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening and drop the connections in progress."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, headers = head.decode("latin-1").partition("\r\n")
            self.seen.append(request_line)
            method, target, version = request_line.split(" ", 2)
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                url = urlsplit(target)
                up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
                path = url.path + (f"?{url.query}" if url.query else "")
                kept = [h for h in headers.split("\r\n") if h and not h.lower().startswith(("connection:", "proxy-"))]
                forwarded = [f"{method} {path or '/'} {version}", *kept, "Connection: close", "", ""]
                up_writer.write("\r\n".join(forwarded).encode("latin-1"))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.close()
