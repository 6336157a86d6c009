"""alveary-gateway: reach a running orchestrator over HTTP: submit and follow tasks, see and
steer agents and pools, stream live events, check health and readiness."""

from __future__ import annotations

from ._config import Config
from ._plugin import Gateway

__all__ = ["Config", "Gateway"]
