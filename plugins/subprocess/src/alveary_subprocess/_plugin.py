"""The ``subprocess`` plugin: its config, its hook implementations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import alveary

from . import _config
from ._runtime import SubprocessRuntime


class Subprocess:
    """Provides the ``subprocess`` runtime and reports its agents' process state to health
    checks. ``[plugins.subprocess]`` is its ``Config``; each pool's ``options`` configure
    its agents (``alveary_subprocess.SubprocessOptions``)."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self.runtime = SubprocessRuntime(config)

    @alveary.hookimpl
    def alveary_runtimes(self) -> Mapping[str, alveary.Runtime]:
        return {"subprocess": self.runtime}

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        """Keep the orchestrator; stop the agents a dead run left (see ``orphans``)."""
        self.runtime.adopt(orchestrator)

    @alveary.hookimpl
    def alveary_health_check(self, agent: alveary.Agent) -> alveary.HealthReport | None:
        """FAILED (with the exit status) when a protocol agent's process is gone."""
        if agent.spec.runtime != "subprocess":
            return None
        return self.runtime.health(agent)

    @alveary.hookimpl
    def alveary_route_filter(
        self, candidates: Sequence[alveary.Agent]
    ) -> Sequence[alveary.Agent] | None:
        return self.runtime.route_filter(candidates)

    @alveary.hookimpl
    def alveary_shutdown(self, orchestrator: alveary.Host) -> None:
        self.runtime.close()
