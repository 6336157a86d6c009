"""The ``gateway`` plugin: an HTTP API served in the orchestrator's own event loop.

``alveary_startup`` binds the socket and starts the server as a task; ``alveary_shutdown``
stops it and waits for its connections to close.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping

import alveary
import structlog
from alveary.validators import is_loopback, split_listen

from . import _config
from ._app import build
from ._remote import RemoteRuntime
from ._server import Server, bind
from ._stream import Hub

log = structlog.get_logger("alveary.gateway")


class Gateway:
    """Tasks, agents, pools and live events over HTTP, under ``/v1``; remote agents over a
    WebSocket, as the ``remote`` runtime."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self.server: Server | None = None
        """The running server (None before start, or if start was refused)."""
        self.hub: Hub | None = None
        self.remote = RemoteRuntime(config.remote)
        """The ``remote`` runtime: agents connected to ``/v1/agents/connect``."""

    @property
    def url(self) -> str:
        """Where the server listens, ``http://host:port`` (the real port when ``listen`` asked
        for port 0)."""
        if self.server is None:
            raise alveary.AlvearyError("the gateway is not serving")
        host, port = self.server.address
        scheme = "https" if self.server.tls else "http"
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

    @alveary.hookimpl
    def alveary_runtimes(self) -> dict[str, RemoteRuntime]:
        return {"remote": self.remote}

    @alveary.hookimpl
    def alveary_check_config(
        self, config: alveary.Config, plugins: Mapping[str, object]
    ) -> list[str]:
        """A listen address other than loopback needs a security plugin, or
        ``allow_insecure``: said by ``alveary check``, and by every orchestrator built."""
        host, _ = split_listen(self.config.listen)
        if is_loopback(host) or self.config.allow_insecure or _secured(plugins):
            return []
        return [
            config.source.error(
                ("plugins", "gateway", "listen"),
                f"refusing to listen on {self.config.listen} without a security plugin: anyone "
                "reaching it could run work; listen on 127.0.0.1, enable one, or set "
                "[plugins.gateway] allow_insecure = true",
            )
        ]

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        self.remote.orchestrator = orchestrator
        host, port = split_listen(self.config.listen)
        if not is_loopback(host) and not _secured(orchestrator.plugins):
            log.warning("gateway open to the network with no security plugin", listen=host)
        hub = Hub(orchestrator, self.config.sse_buffer, self.config.replay)
        try:
            app = build(orchestrator, self.config, hub, self.remote, alveary.__version__)
        except Exception as exc:  # serving nothing quietly would be worse than not starting
            hub.close()
            raise alveary.StartFailed(f"the gateway cannot start: {exc}") from exc
        try:
            sock = bind(host, port)
        except OSError as exc:
            hub.close()
            reason = exc.strerror or str(exc)
            raise alveary.StartFailed(
                f"the gateway cannot listen on {self.config.listen}: {reason}"
            ) from None
        config = self.config
        tls = (config.tls_cert, config.tls_key) if config.tls_cert and config.tls_key else None
        try:
            server = Server(app, sock, config.remote.max_line, tls)
        except (OSError, ssl.SSLError) as exc:
            hub.close()
            sock.close()
            reason = getattr(exc, "strerror", None) or str(exc)
            raise alveary.StartFailed(f"the gateway cannot load its TLS files: {reason}") from None
        self.hub, self.server = hub, server
        log.info("gateway listening", url=self.url, docs=f"{self.url}/docs")

    @alveary.hookimpl
    async def alveary_shutdown(self, orchestrator: alveary.Host) -> None:
        """Hang up on remote agents, end the event streams, stop the server, and wait for
        its connections to close (uvicorn gives them a second): a stop with a client still
        connected then ends quietly."""
        self.remote.close()
        if self.hub is not None:
            self.hub.close()
        if self.server is not None:
            self.server.stop()
            await asyncio.shield(self.server.closed)


def _secured(plugins: Mapping[str, object]) -> bool:
    """True when a plugin checks credentials (implements a security hook)."""
    return any(
        hasattr(p, "alveary_authenticate") or hasattr(p, "alveary_authorize")
        for p in plugins.values()
    )
