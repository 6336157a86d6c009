"""The ``context`` strategy: a session's tasks go to the agent holding its context while that
agent's load stays bounded; new sessions are placed by bounded-load hashing; tasks without a
session go to the best score."""

from __future__ import annotations

import random

from alveary import Agent, Candidates, Task
from alveary_balancer import Admission, Fleet, Group, GroupRing, Picker, WeightedScore

from ._sessions import Sessions


class ContextStrategy(Picker):
    """Sticky session affinity on ``TaskSpec.affinity_key``, bounded by load.

    The holder keeps a session while it is a candidate within ``(1 + epsilon)`` times the
    average load of the agents able to take the task (the bound of alveary-balancer's
    ``BoundedLoadRing``). Otherwise, and for a new session, the ring walks from the key to
    the first agent within its bound, which then holds the session: unlike pure hashing, a
    session that had to move stays where its context now is. O(1) expected; a walk is cut
    at ``scan_limit`` agents and falls back to the weighted score over a sample.
    """

    def __init__(
        self,
        fleet: Fleet,
        admission: Admission,
        sessions: Sessions,
        *,
        epsilon: float,
        vnodes: int,
        scan_limit: int,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(fleet, admission, rng)
        self.sessions = sessions
        self.epsilon = epsilon
        self.vnodes = vnodes
        self.scan_limit = scan_limit
        self.fallback = WeightedScore(fleet, admission, self.rng)
        self._rings: dict[str, GroupRing] = {}
        self.stays = 0
        """Tasks that went to the agent already holding their session."""
        self.placed = 0
        """Tasks whose session was placed (new, or moved because its holder could not)."""

    def ring(self, group: Group) -> GroupRing:
        ring = self._rings.get(group.key)
        if ring is None:
            ring = self._rings[group.key] = GroupRing(
                group, epsilon=self.epsilon, vnodes=self.vnodes
            )
        return ring

    def choose(self, task: Task, candidates: Candidates) -> Agent | None:
        key = task.spec.affinity_key
        group = self.fleet.group(task.spec.requires)
        if key is None or not group:
            return self.fallback.choose(task, candidates)
        ring = self.ring(group)
        holder_id = self.sessions.holder(key)
        if holder_id is not None:
            holder = self.fleet.agents.get(holder_id)
            if (
                holder is not None
                and holder in candidates
                and self.admission.preferred(holder)
                and ring.within(holder)
            ):
                self.stays += 1
                self.sessions.hold(key, holder.id, task.spec.priority)
                return holder
        agent, _ = ring.find(key, candidates, self.admission, self.scan_limit)
        if agent is None:
            agent = self.fallback.choose(task, candidates)
        if agent is not None:
            self.placed += 1
            self.sessions.hold(key, agent.id, task.spec.priority)
        return agent
