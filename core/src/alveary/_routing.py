"""The registry's capability index and the routing pipeline.

Routing is synchronous and runs on every dispatch: candidates come from an index of ready
agents per capability, so a strategy that samples pays O(sample) whatever the fleet size.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from ._records import Agent, Task
from ._states import AgentState


class IndexedSet:
    """A set of agents with O(1) add, remove and uniform random sampling."""

    __slots__ = ("_pos", "items")

    def __init__(self) -> None:
        self.items: list[Agent] = []
        """The members, in no order; read it, change it with ``add`` and ``discard``. Hot
        paths test and measure it directly: ``len`` of the set is a Python call."""
        self._pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Agent]:
        return iter(self.items)

    def __contains__(self, agent: Agent) -> bool:
        return agent.id in self._pos

    def add(self, agent: Agent) -> None:
        if agent.id not in self._pos:
            self._pos[agent.id] = len(self.items)
            self.items.append(agent)

    def discard(self, agent: Agent) -> None:
        i = self._pos.pop(agent.id, None)
        if i is None:
            return
        last = self.items.pop()
        if last is not agent:
            self.items[i] = last
            self._pos[last.id] = i

    def sample(self, k: int, rng: random.Random) -> list[Agent]:
        """Up to ``k`` distinct agents chosen uniformly; all of them (shuffled) if fewer."""
        items = self.items
        n = len(items)
        if k <= 0 or k >= n:
            picked = items.copy()
            rng.shuffle(picked)
            return picked
        if k == 1:
            return [items[int(rng.random() * n)]]
        return [items[i] for i in rng.sample(range(n), k)]


class Index:
    """Ready agents with a free slot, by capability. Agents enter when they become ``ready``
    and leave when they fill up, drain, turn unhealthy or go."""

    __slots__ = ("_all", "_by_cap", "agents")

    def __init__(self) -> None:
        self._all = IndexedSet()
        self._by_cap: dict[str, IndexedSet] = {}
        self.agents = self._all.items
        """Every agent in the index, in no order (the same list for the index's life)."""

    def add(self, agent: Agent) -> None:
        self._all.add(agent)
        for cap in agent.spec.capabilities:
            bucket = self._by_cap.get(cap)
            if bucket is None:
                bucket = self._by_cap[cap] = IndexedSet()
            bucket.add(agent)

    def discard(self, agent: Agent) -> None:
        self._all.discard(agent)
        for cap in agent.spec.capabilities:
            bucket = self._by_cap.get(cap)
            if bucket is not None:
                bucket.discard(agent)

    def bucket(self, requires: frozenset[str]) -> tuple[IndexedSet | None, bool]:
        """The smallest bucket holding every eligible agent, and whether all its members are
        eligible (True unless the task needs several capabilities)."""
        if not requires:
            return self._all, True
        best: IndexedSet | None = None
        for cap in requires:
            bucket = self._by_cap.get(cap)
            if bucket is None or not bucket.items:
                return None, True
            if best is None or len(bucket.items) < len(best.items):
                best = bucket
        return best, len(requires) == 1


class Candidates(Sequence[Agent]):
    """The agents that may take a task: ready, with every required capability and a free slot.

    Strategies and filters read it: ``sample(k)`` is O(k) on an index bucket, ``in`` is
    O(1), ``len`` is O(1) until a filter narrowed it, iteration and indexing are O(n). After
    a filter plugin ran, it holds the filtered list.
    """

    __slots__ = (
        "_bucket",
        "_exact",
        "_ids",
        "_list",
        "_requires",
        "_rng",
        "_scorer",
        "sample_size",
        "task",
    )

    def __init__(
        self,
        task: Task,
        bucket: IndexedSet,
        exact: bool,
        rng: random.Random,
        scorer: Callable[[Task, Agent], float] | None,
        sample_size: int,
    ) -> None:
        self.task = task
        self._bucket = bucket
        self._exact = exact
        self._list: list[Agent] | None = None
        self._ids: set[str] | None = None
        self._requires = task.spec.requires
        self._rng = rng
        self._scorer = scorer
        self.sample_size = sample_size
        """How many candidates ``[routing] sample`` asks strategies to look at (0: all)."""

    def _materialise(self) -> list[Agent]:
        if self._list is None:
            self._list = [a for a in self._bucket if self._requires <= a.spec.capabilities]
        return self._list

    def __len__(self) -> int:
        if self._list is None and self._exact:
            return len(self._bucket)
        return len(self._materialise())

    def __iter__(self) -> Iterator[Agent]:
        if self._list is None and self._exact:
            return iter(self._bucket)
        return iter(self._materialise())

    @overload
    def __getitem__(self, index: int) -> Agent: ...

    @overload
    def __getitem__(self, index: slice) -> list[Agent]: ...

    def __getitem__(self, index: int | slice) -> Agent | list[Agent]:
        return self._materialise()[index]

    def __contains__(self, agent: object) -> bool:
        if not isinstance(agent, Agent):
            return False
        if self._ids is not None:
            return agent.id in self._ids
        return agent in self._bucket and self._requires <= agent.spec.capabilities

    def sample(self, k: int | None = None) -> list[Agent]:
        """Up to ``k`` (default ``sample_size``; 0 means all) distinct candidates, uniformly
        at random."""
        k = self.sample_size if k is None else k
        if self._list is None and self._exact:
            return self._bucket.sample(k, self._rng)
        pool = self._materialise()
        if k <= 0 or k >= len(pool):
            picked = pool.copy()
            self._rng.shuffle(picked)
            return picked
        return self._rng.sample(pool, k)

    @property
    def scored(self) -> bool:
        """True when some plugin scores candidates, so ``score`` means something."""
        return self._scorer is not None

    def score(self, agent: Agent) -> float:
        """The weighted sum of the ``alveary_route_score`` hooks for this task (0 with none)."""
        return 0.0 if self._scorer is None else self._scorer(self.task, agent)

    def replace(self, agents: Sequence[Agent]) -> None:
        """Narrow to ``agents`` (used by the kernel for ``alveary_route_filter``)."""
        current = self._materialise()
        keep = {a.id for a in agents}
        self._list = [a for a in current if a.id in keep]
        self._ids = {a.id for a in self._list}


def eligible(agent: Agent, task: Task) -> bool:
    """May ``agent`` take ``task`` right now? The kernel's last check before reserving."""
    return (
        agent.state is AgentState.READY
        and agent.in_flight < agent.spec.capacity
        and task.spec.requires <= agent.spec.capabilities
    )
