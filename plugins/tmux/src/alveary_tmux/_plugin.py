"""The ``tmux`` plugin: its config, its hook implementations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import alveary

from . import _config
from ._runtime import TmuxRuntime


class Tmux:
    """Provides the ``tmux`` runtime, answers health checks from tmux's own view of each
    session, and removes every session at shutdown. ``[plugins.tmux]`` is its ``Config``;
    each pool's ``options`` configure its agents (``alveary_tmux.TmuxOptions``)."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self.runtime = TmuxRuntime(config)

    @alveary.hookimpl
    def alveary_runtimes(self) -> Mapping[str, alveary.Runtime]:
        return {"tmux": self.runtime}

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        """Keep the orchestrator (a session that dies or is killed is reported at once);
        stop the sessions a dead run left (see ``alveary_subprocess.orphans``)."""
        self.runtime.adopt(orchestrator)

    @alveary.hookimpl
    async def alveary_health_check(self, agent: alveary.Agent) -> alveary.HealthReport | None:
        """FAILED when the agent's session is gone (killed from outside) or its program
        exited."""
        if agent.spec.runtime != "tmux":
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
