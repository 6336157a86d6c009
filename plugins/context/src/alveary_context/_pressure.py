"""Context-window pressure: what to do about agents whose context fills up.

Thresholds, lowest first: below ``wake_below`` a sleeping agent wakes; from ``busy_above`` an
agent takes no high-priority task; from ``sleep_above`` it sleeps (a pool's agent is recycled:
drained and replaced by a fresh one); from ``critical_above`` a pool's agent is recycled at
once. This module decides; the plugin acts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import attrs
from alveary import Agent

from ._config import Config


@attrs.frozen
class Action:
    """One decision about one agent: ``busy``, ``clear``, ``sleep``, ``wake`` or
    ``recycle``; ``critical`` when usage reached ``critical_above``."""

    kind: str
    agent: Agent
    usage: float
    critical: bool = False


class Pressure:
    """Which agents are busy (no high-priority work), sleeping or being recycled."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.busy: set[str] = set()
        self.sleeping: set[str] = set()
        self.recycling: dict[str, str] = {}
        """Agent id -> its pool, while it drains on its way out."""

    def usage(self, agent: Agent) -> float | None:
        value = agent.metrics.get(self.config.metric)
        return None if value is None else float(value)

    def blocked(self, high: bool) -> set[str]:
        """Agents a task may not go to (``high``: a high or critical priority task)."""
        if high and self.busy:
            return self.sleeping | self.busy
        return self.sleeping

    def forget(self, agent_id: str) -> None:
        self.busy.discard(agent_id)
        self.sleeping.discard(agent_id)
        self.recycling.pop(agent_id, None)

    def assess(self, agents: Iterable[Agent], pool_sizes: Mapping[str, int]) -> list[Action]:
        """Decide for every agent that reports usage; at most ``max_recycling`` of a pool is
        recycled at once, the fullest first (critical ones regardless)."""
        config = self.config
        actions: list[Action] = []
        wanted: dict[str, list[tuple[float, Agent]]] = {}
        for agent in agents:
            if agent.id in self.recycling:
                continue
            usage = self.usage(agent)
            if usage is None:
                continue
            if agent.id in self.sleeping:
                if usage < config.wake_below:
                    self.sleeping.discard(agent.id)
                    actions.append(Action("wake", agent, usage))
                continue
            if usage >= config.sleep_above:
                self.busy.discard(agent.id)
                critical = usage >= config.critical_above
                if agent.pool is not None and config.recycle:
                    wanted.setdefault(agent.pool, []).append((usage, agent))
                else:
                    self.sleeping.add(agent.id)
                    actions.append(Action("sleep", agent, usage, critical))
            elif usage >= config.busy_above:
                if agent.id not in self.busy:
                    self.busy.add(agent.id)
                    actions.append(Action("busy", agent, usage))
            elif agent.id in self.busy:
                self.busy.discard(agent.id)
                actions.append(Action("clear", agent, usage))
        for pool, found in wanted.items():
            found.sort(key=lambda pair: -pair[0])
            size = pool_sizes.get(pool, len(found))
            room = max(1, math.floor(config.max_recycling * size))
            room -= sum(1 for p in self.recycling.values() if p == pool)
            for usage, agent in found:
                critical = usage >= config.critical_above
                if room <= 0 and not critical:
                    continue
                room -= 1
                self.recycling[agent.id] = pool
                actions.append(Action("recycle", agent, usage, critical))
        return actions
