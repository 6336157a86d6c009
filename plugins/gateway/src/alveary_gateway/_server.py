"""uvicorn serving the app as a task of the orchestrator's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from litestar import Litestar


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals alone: ``alveary run`` owns SIGINT and SIGTERM
    and stops the orchestrator, whose shutdown stops this server. (uvicorn's own
    ``capture_signals`` would replace those handlers while it serves, then re-raise.)"""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound now so that a taken port fails the start with its reason
    (uvicorn would ``sys.exit`` inside its task)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on sockets that say so,
    # and an accepted socket says what the listening one said. Without it, a response written
    # in two parts (head, then body) waits for the client's delayed ACK: 40 ms a request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Server:
    """The running HTTP server: started from ``alveary_startup``, stopped without waiting
    from ``alveary_shutdown``; ``closed`` finishes once its connections are gone."""

    def __init__(
        self,
        app: Litestar,
        sock: socket.socket,
        max_frame: int,
        tls: tuple[str, str] | None = None,
    ) -> None:
        """Serve ``app`` on ``sock``; with ``tls`` (certificate and key files), over TLS.
        Raises ``OSError`` or ``ssl.SSLError`` if the files cannot be loaded."""
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
            ws="websockets-sansio",
            ws_max_size=max_frame,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
        config.load()  # the TLS files are read now: a bad one fails the start, not a request
        self.tls = tls is not None
        self._server = _Server(config)
        host, port = sock.getsockname()[:2]
        self.address: tuple[str, int] = (str(host), int(port))
        """Where it listens (the real port when port 0 was asked for), kept after it stops."""
        self.app = app
        """The application served: its routes are every path the server answers."""
        self.closed: asyncio.Task[None] = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[sock]), name="alveary-gateway"
        )

    def stop(self) -> None:
        """Stop accepting and end the open connections, in the background."""
        self._server.should_exit = True
