"""The ``container`` plugin: its config, its hook implementations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import alveary

from . import _config
from ._runtime import ContainerRuntime


class Container:
    """Provides the ``container`` runtime. ``[plugins.container]`` is its ``Config``; each
    pool's ``options`` configure its agents (``alveary_container.ContainerOptions``)."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self.runtime = ContainerRuntime(config)

    @alveary.hookimpl
    def alveary_runtimes(self) -> Mapping[str, alveary.Runtime]:
        return {"container": self.runtime}

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        """Keep the orchestrator; remove the containers a dead run left."""
        self.runtime.adopt(orchestrator)

    @alveary.hookimpl
    def alveary_health_check(self, agent: alveary.Agent) -> alveary.HealthReport | None:
        """FAILED (with how it ended) once an agent's container is gone."""
        if agent.spec.runtime != "container":
            return None
        return self.runtime.health(agent)

    @alveary.hookimpl
    def alveary_route_filter(
        self, candidates: Sequence[alveary.Agent]
    ) -> Sequence[alveary.Agent] | None:
        return self.runtime.route_filter(candidates)

    @alveary.hookimpl
    async def alveary_shutdown(self, orchestrator: alveary.Host) -> None:
        await self.runtime.close()
