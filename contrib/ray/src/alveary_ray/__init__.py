"""alveary-ray: the ``ray`` runtime, whose agents are Ray actors.

Enable it with ``[plugins] enabled = ["ray"]``, point ``[plugins.ray] address`` at a cluster
(or leave it unset for a cluster of the orchestrator's own), and give a pool
``runtime = "ray"`` and ``options = { handler = "package.module:function" }``: the same agent
function a ``subprocess`` agent serves with ``python -m alveary.agent``. See
``docs/plugins/ray.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import alveary

from . import _config
from ._config import Config, RayOptions
from ._runtime import AgentLost, RayRuntime

__all__ = ["AgentLost", "Config", "Ray", "RayOptions", "RayRuntime"]


class Ray:
    """Provides the ``ray`` runtime. ``[plugins.ray]`` is its ``Config``; each pool's
    ``options`` are ``RayOptions``."""

    Config = _config.Config

    def __init__(self, config: _config.Config | None = None) -> None:
        self.config = config or _config.Config()
        self.runtime = RayRuntime(self.config)

    @alveary.hookimpl
    def alveary_runtimes(self) -> Mapping[str, alveary.Runtime]:
        return {"ray": self.runtime}

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        """Keep the orchestrator, to report the agents whose actor dies."""
        self.runtime.adopt(orchestrator)

    @alveary.hookimpl
    def alveary_route_filter(
        self, candidates: Sequence[alveary.Agent]
    ) -> Sequence[alveary.Agent] | None:
        """Leave out an agent whose actor died, until the orchestrator has removed it."""
        return self.runtime.route_filter(candidates)
