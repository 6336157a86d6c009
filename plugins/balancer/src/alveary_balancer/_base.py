"""What every balancer strategy shares: the fleet it reads, admission, and the way out."""

from __future__ import annotations

import random

from alveary import Agent, Candidates, Task

from ._fleet import Fleet
from ._load import Admission


class Picker:
    """A strategy: ``select`` runs ``choose`` and counts the pick in the fleet, so that
    in-flight sums are right before the kernel's hooks see the task."""

    def __init__(
        self, fleet: Fleet, admission: Admission, rng: random.Random | None = None
    ) -> None:
        self.fleet = fleet
        self.admission = admission
        self.rng = rng or random.Random()

    def select(self, task: Task, candidates: Candidates) -> Agent | None:
        agent = self.choose(task, candidates)
        if agent is not None:
            self.fleet.reserve(agent)
        return agent

    def choose(self, task: Task, candidates: Candidates) -> Agent | None:
        raise NotImplementedError

    def least_loaded(self, agents: list[Agent], candidates: Candidates) -> Agent | None:
        """The admitted agent of ``agents`` with the lowest load factor once it takes the
        task, healthy ones first; a tie goes to the higher score (computed only for ties),
        then to the first."""
        best: Agent | None = None
        best_key = (True, 0.0)
        admission = self.admission
        for agent in agents:
            if not admission.admits(agent):
                continue
            key = (not admission.healthy(agent), admission.load(agent, 1))
            if best is None or key < best_key:
                best, best_key = agent, key
            elif (
                key == best_key
                and candidates.scored
                and candidates.score(agent) > candidates.score(best)
            ):
                best = agent
        return best

    def way_out(self, candidates: Candidates, k: int = 4) -> Agent | None:
        """When an ordered strategy's bounded walk found nobody: the least loaded admitted
        agent of a random sample of ``k`` candidates (O(k)), or None."""
        return self.least_loaded(candidates.sample(k), candidates)
