"""``[plugins.gateway]``: where the HTTP API listens and the limits it keeps."""

from __future__ import annotations

from typing import Any

import attrs
from alveary import FieldError
from alveary.validators import listen, positive

from ._origin import origin_of


def _origins(value: Any) -> tuple[str, ...]:
    """``trusted_origins`` as lower-case origins, each checked."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(i, str) for i in value):
        raise FieldError("trusted_origins", f"expected a list of origins, got {value!r}")
    try:
        return tuple(origin_of(item) for item in value)
    except ValueError as exc:
        raise FieldError("trusted_origins", str(exc)) from None


@attrs.frozen
class Remote:
    """``[plugins.gateway.remote]``: agents that connect to ``/v1/agents/connect``."""

    start_timeout: float = attrs.field(default=10.0, validator=positive)
    """How long a connected agent has to send its ``hello``."""
    stop_grace: float = attrs.field(default=10.0, validator=positive)
    """How long a stopped agent has to finish its tasks and hang up before it is cut off."""
    cancel_grace: float = attrs.field(default=5.0, validator=positive)
    """How long an agent has to answer a ``cancel`` before its connection is closed."""
    max_bad_lines: int = attrs.field(default=100, validator=positive)
    """Malformed frames in a row after which an agent's connection is closed."""
    max_line: int = attrs.field(default=8 * 2**20, validator=positive)
    """The largest frame either side sends, in bytes."""
    log_dir: str = ".alveary/logs/remote"
    """Where ``<agent name>.log`` files of remote agents go."""
    log_max_bytes: int = attrs.field(default=10 * 2**20, validator=positive)
    """An agent's log rotates (to ``.log.1``) past this size."""


@attrs.frozen
class Config:
    """How the gateway serves. Sizes are in bytes, counts in events."""

    listen: str = attrs.field(default="127.0.0.1:8787", validator=listen)
    """Address and port of the HTTP server (port 0: any free port)."""
    max_body: int = attrs.field(default=10 * 2**20, validator=positive)
    """Request bodies larger than this are refused with 413."""
    allow_insecure: bool = False
    """Listen on a non-loopback address without a security plugin: anyone who reaches the
    port can submit work. Off by default, and said at start when on."""
    sse_buffer: int = attrs.field(default=1000, validator=positive)
    """How far behind the live events (of any type) a ``/v1/events`` subscriber may fall;
    one further behind is dropped with a final event, so a slow client never slows
    dispatch."""
    replay: int = attrs.field(default=10_000, validator=positive)
    """Latest events kept for subscribers resuming with ``Last-Event-ID``."""
    max_wait: float = attrs.field(default=60.0, validator=positive)
    """Longest long-poll ``GET /v1/tasks/{id}/result?wait=`` allows, in seconds."""
    remote: Remote = attrs.field(factory=Remote)
    """Remote agents (``[plugins.gateway.remote]``)."""
    tls_cert: str | None = None
    """A PEM certificate (chain) file: with ``tls_key``, the gateway serves HTTPS and WSS."""
    tls_key: str | None = None
    """The PEM private key of ``tls_cert``."""
    trusted_origins: tuple[str, ...] = attrs.field(default=(), converter=_origins)
    """Origins (``https://host:port``) whose web pages may call the API from a browser, with
    CORS answers. Pages of any other site are refused whatever they send (cross-site request
    forgery); programs and the dashboard need nothing here."""

    def __attrs_post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "tls_key" if self.tls_key is None else "tls_cert"
            raise FieldError(missing, "expected tls_cert and tls_key together")
