"""The ``least-loaded`` strategy: the candidate with the fewest tasks for its capacity."""

from __future__ import annotations

from collections.abc import Mapping

from .._records import Agent, Task
from .._routing import Candidates
from ..hookspecs import hookimpl


class LeastLoaded:
    """Looks at ``[routing] sample`` random candidates (two by default: the power of two
    choices; 0 looks at all) and picks the one with the lowest load (in-flight / capacity).
    Ties go to the higher score, then to chance, since the sample is random."""

    def select(self, task: Task, candidates: Candidates) -> Agent | None:
        best: Agent | None = None
        best_key = (0.0, 0.0)
        scored = candidates.scored
        for agent in candidates.sample():
            key = (
                agent.in_flight / agent.spec.capacity,
                -candidates.score(agent) if scored else 0.0,
            )
            if best is None or key < best_key:
                best, best_key = agent, key
        return best

    @hookimpl
    def alveary_strategies(self) -> Mapping[str, LeastLoaded]:
        return {"least-loaded": self}
