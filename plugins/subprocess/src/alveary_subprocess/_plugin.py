"""The ``subprocess`` plugin, and the hooks every plugin of a ``Supervisor`` runtime shares
(``SupervisedPlugin``: subprocess, tmux, container)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import alveary

from . import _config
from ._runtime import SubprocessRuntime
from ._supervisor import Supervisor


class SupervisedPlugin:
    """The hooks of a plugin providing one ``Supervisor`` runtime, ``self.runtime``: provide
    it, hand it the orchestrator at start (it then stops the agents a dead run left, see
    ``orphans``), answer health checks of its agents, keep agents it knows are gone out of
    routing, and end what is left at shutdown."""

    runtime: Supervisor

    @alveary.hookimpl
    def alveary_runtimes(self) -> Mapping[str, alveary.Runtime]:
        # each Supervisor subclass implements the Runtime protocol's start, execute and stop
        return {self.runtime.name: cast(alveary.Runtime, self.runtime)}

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        self.runtime.adopt(orchestrator)

    @alveary.hookimpl
    async def alveary_health_check(self, agent: alveary.Agent) -> alveary.HealthReport | None:
        """FAILED (with how it ended) once the agent's process, session or container is
        gone; otherwise abstain."""
        if agent.spec.runtime != self.runtime.name:
            return None
        return await self.runtime.check(agent)

    @alveary.hookimpl
    def alveary_route_filter(
        self, candidates: Sequence[alveary.Agent]
    ) -> Sequence[alveary.Agent] | None:
        return self.runtime.route_filter(candidates)

    @alveary.hookimpl
    async def alveary_shutdown(self, orchestrator: alveary.Host) -> None:
        await self.runtime.close()


class Subprocess(SupervisedPlugin):
    """Provides the ``subprocess`` runtime and reports its agents' process state to health
    checks. ``[plugins.subprocess]`` is its ``Config``; each pool's ``options`` configure
    its agents (``alveary_subprocess.SubprocessOptions``)."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self.runtime = SubprocessRuntime(config)
