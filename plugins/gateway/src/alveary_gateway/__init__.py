"""alveary-gateway: reach a running orchestrator over HTTP: submit and follow tasks, see and
steer agents and pools, stream live events, check health and readiness.

``Gateway`` is the plugin. ``alveary_gateway.client`` and ``alveary_gateway.command`` are the
command-line client's kit (an HTTP client that turns every failure into one line and an exit
status, the shared options and argument types), for commands of other plugins that talk to a
running gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._config import Config
    from ._plugin import Gateway

__all__ = ["Config", "Gateway"]


def __getattr__(name: str) -> object:
    """Import the server when it is asked for, not with the package: the command-line client
    (``alveary_gateway.cli``) then starts without loading litestar and uvicorn."""
    if name == "Gateway":
        from ._plugin import Gateway

        return Gateway
    if name == "Config":
        from ._config import Config

        return Config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
