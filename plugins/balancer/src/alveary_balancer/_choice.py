"""Strategies that compare agents: ``least-outstanding``, ``p2c``, ``weighted-score``, and
``adaptive``, which picks one of the others by the state of the fleet."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from alveary import Agent, Candidates, Task

from ._base import Picker
from ._fleet import Fleet
from ._load import Admission


class LeastOutstanding(Picker):
    """The candidate with the lowest load factor once it takes the task (fewest outstanding
    requests for its capacity), healthy ones first, looking at every candidate: exact, and
    O(n). Ties go to chance, so equal agents share the work."""

    def choose(self, task: Task, candidates: Candidates) -> Agent | None:
        best: Agent | None = None
        best_key = (True, 0.0)
        ties = 0
        admission, rng = self.admission, self.rng
        for agent in candidates:
            if not admission.admits(agent):
                continue
            key = (not admission.healthy(agent), admission.load(agent, 1))
            if best is not None and key > best_key:
                continue
            if best is None or key < best_key:
                best, best_key, ties = agent, key, 1
            else:
                ties += 1
                if rng.random() * ties < 1:  # reservoir: each tied agent equally likely
                    best = agent
        return best


class PowerOfD(Picker):
    """The power of d choices: sample ``d`` candidates, take the one with the lowest load
    factor (in-flight share or reported resource usage, whichever is higher), ties to the
    higher score. Agents under the health floor count only when the sample has nothing
    better; agents over the resource ceiling are passed over, and if a whole sample is, one
    more is drawn, then the task waits. O(d).

    The kernel's ``least-loaded`` samples ``[routing] sample`` agents on in-flight share
    alone; this one has its own ``d`` and also sees what agents report about themselves."""

    def __init__(
        self, fleet: Fleet, admission: Admission, d: int, rng: random.Random | None = None
    ) -> None:
        super().__init__(fleet, admission, rng)
        self.d = d

    def choose(self, task: Task, candidates: Candidates) -> Agent | None:
        best = self.least_loaded(candidates.sample(self.d), candidates)
        if best is None and len(candidates) > self.d:
            best = self.least_loaded(candidates.sample(self.d), candidates)
        return best


class WeightedScore(Picker):
    """The kernel's scoring pipeline decides: among ``[routing] sample`` candidates (0: all),
    the highest ``candidates.score`` (the ``alveary_route_score`` hooks weighted by
    ``[routing.weights]``), healthy ones first; ties to the lower load factor, then to
    chance (the sample comes shuffled). O(sample x scorers)."""

    def choose(self, task: Task, candidates: Candidates) -> Agent | None:
        sample = candidates.sample()
        if not candidates.scored:
            return self.least_loaded(sample, candidates)
        best: Agent | None = None
        best_key = (False, 0.0, 0.0)
        admission = self.admission
        for agent in sample:
            if not admission.admits(agent):
                continue
            key = (admission.healthy(agent), candidates.score(agent), -admission.load(agent, 1))
            if best is None or key > best_key:
                best, best_key = agent, key
        return best


class Adaptive(Picker):
    """Picks a strategy by the state of the fleet, re-read at every tick: a high average load
    routes by score (success and latency count most when agents are busy), a high spread of
    loads by ``p2c`` (to even it out), a calm fleet by ``round-robin``. Costs what the
    chosen strategy costs."""

    def __init__(
        self,
        fleet: Fleet,
        admission: Admission,
        modes: dict[str, Picker],
        high_load: float,
        high_spread: float,
        announce: Callable[[str, str, dict[str, float]], None] | None = None,
    ) -> None:
        super().__init__(fleet, admission)
        self.modes = modes
        self.high_load = high_load
        self.high_spread = high_spread
        self.mode = "round-robin"
        self.announce = announce

    def observe(self) -> tuple[float, float]:
        """Measure the fleet (O(agents)) and switch mode if needed; returns (mean, stdev)."""
        loads = [self.admission.load(a) for a in self.fleet.agents.values()]
        if not loads:
            return 0.0, 0.0
        mean = sum(loads) / len(loads)
        spread = math.sqrt(sum((x - mean) ** 2 for x in loads) / len(loads))
        if mean > self.high_load:
            mode = "weighted-score"
        elif spread > self.high_spread:
            mode = "p2c"
        else:
            mode = "round-robin"
        if mode != self.mode:
            old, self.mode = self.mode, mode
            if self.announce is not None:
                self.announce(old, mode, {"mean_load": mean, "load_spread": spread})
        return mean, spread

    def select(self, task: Task, candidates: Candidates) -> Agent | None:
        return self.modes[self.mode].select(task, candidates)

    def choose(self, task: Task, candidates: Candidates) -> Agent | None:
        return self.modes[self.mode].choose(task, candidates)
