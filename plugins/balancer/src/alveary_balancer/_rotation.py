"""Strategies that take turns: ``round-robin`` and ``weighted-round-robin``.

Both walk the fleet's group of agents able to take the task (busy ones included, so the
order holds) and skip those that cannot take it now; a skipped agent loses its turn. A walk
looks at ``scan_limit`` agents at most, then falls back to a random sample, so a decision
costs O(1) (round robin) or O(log n) (weighted) whatever the fleet size.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable

from alveary import Agent, Candidates, Task

from ._base import Picker
from ._fleet import Fleet, Group
from ._load import Admission


class RoundRobin(Picker):
    """Each able agent in turn, in the order they registered: O(1) amortised a decision."""

    def __init__(
        self,
        fleet: Fleet,
        admission: Admission,
        scan_limit: int,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(fleet, admission, rng)
        self.scan_limit = scan_limit
        self._cursor: dict[str, int] = {}

    def choose(self, task: Task, candidates: Candidates) -> Agent | None:
        group = self.fleet.group(task.spec.requires)
        if not group:
            return self.way_out(candidates)
        members = group.members
        n = len(members)
        i = self._cursor.get(group.key, 0) % n
        preferred = self.admission.preferred
        try:
            for _ in range(min(n, self.scan_limit)):
                agent = members[i]
                i = i + 1 if i + 1 < n else 0
                if agent in candidates and preferred(agent):
                    return agent
        finally:
            self._cursor[group.key] = i
        return self.way_out(candidates)


class _Schedule:
    """Stride scheduling over one group: agent ``a``'s ``k``-th turn falls at virtual time
    ``(k + 0.5) / w(a)``, so over any full cycle (the sum of the weights in turns) each agent
    gets exactly its weight in turns, interleaved smoothly. A heap orders the turns."""

    __slots__ = ("_counts", "_heap", "_seq", "_weight", "_weights", "now")

    def __init__(self, group: Group, weight: Callable[[Agent], int]) -> None:
        self._weight = weight
        self._heap: list[tuple[float, int, str]] = []
        self._counts: dict[str, int] = {}
        self._weights: dict[str, int] = {}
        self._seq = 0
        self.now = 0.0
        for agent in group:
            self.joined(agent)
        group.observers.append(self)

    def joined(self, agent: Agent) -> None:
        w = self._weight(agent)
        # start at the current virtual time, not at zero: no burst of catching up
        count = math.floor(self.now * w)
        self._counts[agent.id] = count
        self._weights[agent.id] = w
        self._seq += 1
        heapq.heappush(self._heap, ((count + 0.5) / w, self._seq, agent.id))

    def left(self, agent: Agent) -> None:
        self._counts.pop(agent.id, None)
        self._weights.pop(agent.id, None)

    def turn(self) -> str | None:
        """The agent whose turn it is; its turn is used up."""
        heap = self._heap
        while heap:
            when, seq, agent_id = heapq.heappop(heap)
            count = self._counts.get(agent_id)
            if count is None:
                continue  # the agent left
            w = self._weights[agent_id]
            self.now = when
            self._counts[agent_id] = count = count + 1
            heapq.heappush(heap, ((count + 0.5) / w, seq, agent_id))
            return agent_id
        return None


class SmoothWeighted(Picker):
    """Smooth weighted round robin: over every cycle each agent gets exactly its weight in
    turns, spread out rather than in bursts. O(log n) a decision (a heap)."""

    def __init__(
        self,
        fleet: Fleet,
        admission: Admission,
        scan_limit: int,
        weight: Callable[[Agent], int],
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(fleet, admission, rng)
        self.scan_limit = scan_limit
        self.weight = weight
        self._schedules: dict[str, _Schedule] = {}

    def choose(self, task: Task, candidates: Candidates) -> Agent | None:
        group = self.fleet.group(task.spec.requires)
        if not group:
            return self.way_out(candidates)
        schedule = self._schedules.get(group.key)
        if schedule is None:
            schedule = self._schedules[group.key] = _Schedule(group, self.weight)
        preferred = self.admission.preferred
        # a heavy agent that cannot take work forfeits many turns: bound turns, not agents
        for _ in range(self.scan_limit):
            agent_id = schedule.turn()
            if agent_id is None:
                break
            agent = self.fleet.agents.get(agent_id)
            if agent is not None and agent in candidates and preferred(agent):
                return agent
        return self.way_out(candidates)
