"""The ``consistent-hash`` strategy: a task's ``affinity_key`` picks its agent on a ring,
within a bounded load."""

from __future__ import annotations

import random

from alveary import Agent, Candidates, Task

from ._base import Picker
from ._choice import PowerOfD
from ._fleet import Fleet, Group
from ._hashring import BoundedLoadRing
from ._load import Admission


class GroupRing(BoundedLoadRing):
    """A ring over the names of one group's agents, following the group as agents come and
    go. The bound is weighted by capacity and counts the group's work in flight."""

    def __init__(self, group: Group, *, epsilon: float, vnodes: int) -> None:
        super().__init__(epsilon=epsilon, vnodes=vnodes)
        self.group = group
        self.update(a.name for a in group)
        group.observers.append(self)

    def joined(self, agent: Agent) -> None:
        self.add(agent.name)

    def left(self, agent: Agent) -> None:
        self.remove(agent.name)

    def within(self, agent: Agent) -> bool:
        """May ``agent`` take one more task without passing its bound?"""
        group = self.group
        cap = self.cap(group.in_flight, agent.spec.capacity, group.capacity)
        return agent.in_flight + 1 <= cap

    def find(
        self, key: str, ok: Candidates | None, admission: Admission, limit: int
    ) -> tuple[Agent | None, int]:
        """The first agent from ``key`` on the ring that is a candidate (when ``ok`` is
        given), admitted, healthy and within its bound, and how many agents came before it (0: the
        key's own agent). Looks at ``limit`` agents at most."""
        by_name = self.group.by_name
        for step, name in enumerate(self.walk(key)):
            if step >= limit:
                break
            agent = by_name.get(name)
            if agent is None or (ok is not None and agent not in ok):
                continue
            if admission.preferred(agent) and self.within(agent):
                return agent, step
        return None, limit


class BoundedHash(Picker):
    """Consistent hashing with bounded loads on ``TaskSpec.affinity_key``: tasks with one key
    go to one agent while its load stays within ``(1 + epsilon)`` times the average of the
    agents able to take them (weighted by capacity); beyond that they walk the ring to the
    next agent within its bound. Tasks without a key go to ``p2c``. O(1) expected: a walk
    stops after ``scan_limit`` agents and falls back to ``p2c``."""

    def __init__(
        self,
        fleet: Fleet,
        admission: Admission,
        *,
        epsilon: float,
        vnodes: int,
        scan_limit: int,
        fallback: PowerOfD,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(fleet, admission, rng)
        self.epsilon = epsilon
        self.vnodes = vnodes
        self.scan_limit = scan_limit
        self.fallback = fallback
        self._rings: dict[str, GroupRing] = {}
        self.hits = 0
        """Tasks that went to their key's own agent (the first on the ring)."""
        self.spills = 0
        """Tasks with a key that went further along the ring, or to the fallback."""

    def ring(self, group: Group) -> GroupRing:
        """The group's ring, built on first use and kept in step with the group."""
        ring = self._rings.get(group.key)
        if ring is None:
            ring = self._rings[group.key] = GroupRing(
                group, epsilon=self.epsilon, vnodes=self.vnodes
            )
        return ring

    def home(self, task: Task) -> Agent | None:
        """The agent a task's key hashes to, ignoring loads (None without a key)."""
        key = task.spec.affinity_key
        group = self.fleet.group(task.spec.requires)
        if key is None or not group:
            return None
        name = self.ring(group).owner(key)
        return None if name is None else group.by_name.get(name)

    def choose(self, task: Task, candidates: Candidates) -> Agent | None:
        key = task.spec.affinity_key
        group = self.fleet.group(task.spec.requires)
        if key is None or not group:
            return self.fallback.choose(task, candidates)
        ring = self.ring(group)
        agent, step = ring.find(key, candidates, self.admission, self.scan_limit)
        if step == 0:
            self.hits += 1
        else:
            self.spills += 1
        return agent if agent is not None else self.fallback.choose(task, candidates)
