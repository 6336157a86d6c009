"""Every registered agent, grouped by capability, with each group's work in flight.

Strategies that keep an order (round robin, weights, a hash ring) need every agent that may
take a kind of task, busy or not, where the kernel's candidates hold only those with a free
slot; bounded-load hashing needs each group's total work in flight in O(1). A plugin owns one
``Fleet`` and feeds it from its hooks: ``add``/``remove`` on registration, ``reserve`` when a
strategy picks, and ``sync`` in ``alveary_attempt_finished``, which the kernel calls for every
attempt however it ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from alveary import Agent

ALL = ""
"""The key of the group holding every agent (tasks that require nothing)."""


class Observer(Protocol):
    """Something built over a group's members that must follow them (a ring, a schedule)."""

    def joined(self, agent: Agent) -> None: ...

    def left(self, agent: Agent) -> None: ...


class Group:
    """The agents with one capability, in the order they joined (O(1) add and remove)."""

    __slots__ = ("_pos", "by_name", "capacity", "in_flight", "key", "members", "observers")

    def __init__(self, key: str) -> None:
        self.key = key
        self.members: list[Agent] = []
        self._pos: dict[str, int] = {}
        self.by_name: dict[str, Agent] = {}
        self.in_flight = 0
        """Tasks in flight on the members, as the fleet last saw them."""
        self.capacity = 0
        """The members' summed capacity."""
        self.observers: list[Observer] = []

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Agent]:
        return iter(self.members)

    def __contains__(self, agent: Agent) -> bool:
        return agent.id in self._pos

    def _add(self, agent: Agent, in_flight: int) -> None:
        self._pos[agent.id] = len(self.members)
        self.members.append(agent)
        self.by_name[agent.name] = agent
        self.capacity += agent.spec.capacity
        self.in_flight += in_flight
        for observer in self.observers:
            observer.joined(agent)

    def _remove(self, agent: Agent, in_flight: int) -> None:
        i = self._pos.pop(agent.id)
        last = self.members.pop()
        if last is not agent:
            self.members[i] = last
            self._pos[last.id] = i
        self.by_name.pop(agent.name, None)
        self.capacity -= agent.spec.capacity
        self.in_flight -= in_flight
        for observer in self.observers:
            observer.left(agent)


class Fleet:
    """Registered agents by capability, with in-flight sums kept exact at O(1) a change."""

    def __init__(self) -> None:
        self.agents: dict[str, Agent] = {}
        self._seen: dict[str, int] = {}
        self._groups: dict[str, Group] = {ALL: Group(ALL)}

    def __len__(self) -> int:
        return len(self.agents)

    def _keys(self, agent: Agent) -> Iterator[str]:
        yield ALL
        yield from agent.spec.capabilities

    def add(self, agent: Agent) -> None:
        if agent.id in self.agents:
            return
        self.agents[agent.id] = agent
        self._seen[agent.id] = agent.in_flight
        for key in self._keys(agent):
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = Group(key)
            group._add(agent, agent.in_flight)

    def remove(self, agent: Agent) -> None:
        if self.agents.pop(agent.id, None) is None:
            return
        seen = self._seen.pop(agent.id)
        for key in self._keys(agent):
            group = self._groups[key]
            group._remove(agent, seen)

    def group(self, requires: frozenset[str]) -> Group | None:
        """The smallest group holding every agent that may take a task needing ``requires``
        (its rarest capability), or None if no agent has one of them."""
        if not requires:
            return self._groups[ALL]
        best: Group | None = None
        for cap in requires:
            group = self._groups.get(cap)
            if not group:
                return None
            if best is None or len(group) < len(best):
                best = group
        return best

    def reserve(self, agent: Agent) -> None:
        """A strategy picked ``agent``: count the task the kernel is about to give it."""
        if agent.id in self._seen:
            self._apply(agent, 1)

    def sync(self, agent: Agent, in_flight: int) -> None:
        """The agent has ``in_flight`` tasks now (what the hooks see): catch up."""
        seen = self._seen.get(agent.id)
        if seen is not None and seen != in_flight:
            self._apply(agent, in_flight - seen)

    def resync(self) -> None:
        """Read every agent's in-flight count again (O(agents)): for a strategy's picks that
        the kernel never turned into attempts, as in a benchmark of the decision alone."""
        for agent in self.agents.values():
            self.sync(agent, agent.in_flight)

    def _apply(self, agent: Agent, delta: int) -> None:
        self._seen[agent.id] += delta
        for key in self._keys(agent):
            self._groups[key].in_flight += delta
