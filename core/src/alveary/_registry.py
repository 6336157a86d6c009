"""The registry: agents by id and name, the capability index, and agent state changes."""

from __future__ import annotations

import asyncio
from collections import Counter

from ._errors import NotFound
from ._events import EventBus
from ._hooks import Hooks
from ._records import Agent
from ._routing import Index
from ._states import AgentState

_NAMES = {state: state.value for state in AgentState}
_EVENTS = {state: f"agent.{state.value}" for state in AgentState}
"""Looked up, not built: ``Enum.value`` is a descriptor call, on every state change."""


class Registry:
    """Every registered agent. ``set_state`` is the one place an agent's state changes: it
    keeps the routing index in step and announces the change."""

    __slots__ = ("_drained", "_events", "_hooks", "_kinds", "by_id", "by_name", "index")

    def __init__(self, hooks: Hooks, events: EventBus) -> None:
        self._hooks = hooks
        self._events = events
        self.by_id: dict[str, Agent] = {}
        self.by_name: dict[str, str] = {}
        self.index = Index()
        self._kinds: Counter[frozenset[str]] = Counter()
        self._drained: dict[str, asyncio.Event] = {}

    def add(self, agent: Agent) -> None:
        if agent.name in self.by_name:
            raise ValueError(f"an agent named {agent.name!r} is already registered")
        self.by_id[agent.id] = agent
        self.by_name[agent.name] = agent.id
        self._kinds[agent.spec.capabilities] += 1

    def forget(self, agent: Agent) -> None:
        if self.by_id.pop(agent.id, None) is None:
            return
        self.by_name.pop(agent.name, None)
        self.index.discard(agent)
        caps = agent.spec.capabilities
        self._kinds[caps] -= 1
        if not self._kinds[caps]:
            del self._kinds[caps]

    def get(self, agent_id: str) -> Agent:
        """The agent with this id or name; raises ``NotFound``."""
        agent = self.by_id.get(agent_id) or self.by_id.get(self.by_name.get(agent_id, ""))
        if agent is None:
            raise NotFound(f"no agent {agent_id!r}")
        return agent

    def could_serve(self, requires: frozenset[str]) -> bool:
        """Does some registered agent, in whatever state, have every capability in
        ``requires``? (Distinct capability sets are few: this is no scan of the fleet; and
        a task usually requires exactly what its agents offer, one lookup.)"""
        return requires in self._kinds or any(requires <= caps for caps in self._kinds)

    def set_state(self, agent: Agent, state: AgentState, reason: str = "") -> None:
        old = agent.state
        if old is state:
            return
        agent.state = state
        if state is AgentState.READY:
            self.index.add(agent)
        elif old is AgentState.READY:
            self.index.discard(agent)
        if self._hooks.has_state_hooks:
            self._hooks.agent_state_changed(agent, old, state, reason)
        events, type = self._events, _EVENTS[state]
        events.counts[type] += 1
        if events.wants[type]:
            data = {"from": _NAMES[old], "reason": reason} if reason else {"from": _NAMES[old]}
            events.send(type, events.now(), None, agent, data)

    def released(self, agent: Agent) -> None:
        """An attempt on ``agent`` ended: wake whoever waits for it to be idle."""
        if agent.in_flight == 0:
            event = self._drained.pop(agent.id, None)
            if event is not None:
                event.set()

    async def idle(self, agent: Agent, timeout: float | None) -> bool:
        """Wait until ``agent`` has nothing in flight; False if ``timeout`` passed first."""
        if agent.in_flight == 0:
            return True
        event = self._drained.setdefault(agent.id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True
