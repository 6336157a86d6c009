"""``/metrics`` on a port of its own: a small HTTP/1.1 server in the orchestrator's loop.

Not ``prometheus_client.start_http_server``: that serves from a thread, which would read the
tally while the loop changes it. Here a scrape runs between two events, like any callback.
Each connection gets one answer and is closed; a peer that sends too much, too slowly, or
stops reading is cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from alveary.validators import is_loopback, names_loopback
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

MAX_HEAD = 16 * 1024
"""Bytes of request line and headers accepted."""
TIMEOUT = 10.0
"""Seconds a peer has to send its request, and to take the answer."""
Render = Callable[[str], tuple[bytes, str]]
"""What makes the page: the ``Accept`` header in, the body and its content type out."""
MAX_CONNECTIONS = 64
"""Connections served at once; more are closed at once."""


class Page:
    """``/metrics`` of one registry, for whoever serves it: this server or the gateway.

    The gateway serves what plugins list in a ``gateway_pages`` attribute (path -> page):
    it checks ``action`` on ``*`` through the security plugins, then answers with what
    ``render(accept)`` returns (the body and its content type).
    """

    action = "events.read"
    """The metrics are counts of events: whoever may follow the events may read them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def render(self, accept: str) -> tuple[bytes, str]:
        """The metrics in the format ``accept`` asks for (Prometheus text by default, or
        OpenMetrics), with its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class Server:
    """Serves a page at ``/metrics`` on a bound socket until ``close``."""

    def __init__(self, server: asyncio.Server, connections: set[asyncio.Task[None]]) -> None:
        self._server = server
        self._connections = connections

    @classmethod
    async def start(cls, host: str, port: int, render: Render) -> Server:
        """Listen on ``host:port``; raises ``OSError`` if it cannot."""
        connections: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            current = asyncio.current_task()
            if len(connections) >= MAX_CONNECTIONS or current is None:
                writer.close()
                return
            connections.add(current)
            try:
                await _answer(reader, writer, render, loopback)
            finally:
                connections.discard(current)
                writer.close()

        loopback = is_loopback(host)
        server = await asyncio.start_server(accept, host, port, limit=MAX_HEAD)
        return cls(server, connections)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def close(self) -> None:
        """Stop listening and cut the connections still open."""
        self._server.close()
        for connection in list(self._connections):
            connection.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()


async def _answer(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    render: Render,
    loopback: bool,
) -> None:
    """One answer; on a ``loopback`` address, only to a ``Host`` that names this machine."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
        return
    except (ConnectionError, ValueError):
        return
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        status, body, content_type = "400 Bad Request", b"bad request\n", "text/plain"
    elif loopback and not names_loopback(headers.get("host", "localhost")):
        status, body, content_type = "403 Forbidden", b"Host names another machine\n", "text/plain"
    elif parts[0] not in ("GET", "HEAD"):
        status, body, content_type = "405 Method Not Allowed", b"GET only\n", "text/plain"
    elif parts[1].partition("?")[0] != "/metrics":
        status, body, content_type = "404 Not Found", b"metrics are at /metrics\n", "text/plain"
    else:
        status = "200 OK"
        body, content_type = render(headers.get("accept", ""))
    head_out = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode("latin-1")
    writer.write(head_out if parts[0] == "HEAD" else head_out + body)
    with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
        await asyncio.wait_for(writer.drain(), TIMEOUT)
