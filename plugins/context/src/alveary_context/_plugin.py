"""The ``context`` plugin: session affinity, expertise and context pressure.

It provides the ``context`` strategy, scores agents by expertise (``alveary_route_score``,
usable by any strategy that reads scores), keeps agents under context pressure away from
work (``alveary_route_filter``), learns from every outcome, and at each tick acts on context
usage, rebalances sessions and saves profiles to the store.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from alveary import (
    Agent,
    Host,
    NotFound,
    Outcome,
    Priority,
    Strategy,
    Task,
    TaskSpec,
    TaskState,
    hookimpl,
)
from alveary_balancer import Admission, Fleet, plan_moves

from . import _config
from ._expertise import Expertise
from ._explain import Explanation, explain
from ._pressure import Action, Pressure
from ._profiles import Profiles
from ._sessions import Sessions
from ._strategy import ContextStrategy

log = structlog.get_logger("alveary.context")

NAMESPACE = "context"
"""The store namespace of what this plugin saves (``profiles``)."""


class Context:
    """Context-aware routing: session affinity, expertise profiles, context pressure."""

    Config = _config.Config

    def __init__(self, config: _config.Config | None = None) -> None:
        self.config = config = config or _config.Config()
        rng = random.Random()
        self.fleet = Fleet()
        # its own picks skip agents at or above the sleep threshold, whatever the filter saw
        self.admission = Admission(config.sleep_above, 0.0, (config.metric,))
        self.profiles = Profiles(config.learning_rate, config.confidence_samples)
        self.expertise = Expertise(config, self.profiles, rng)
        self.sessions = Sessions(config.max_sessions)
        self.pressure = Pressure(config)
        self.strategy = ContextStrategy(
            self.fleet,
            self.admission,
            self.sessions,
            epsilon=config.epsilon,
            vnodes=config.vnodes,
            scan_limit=config.scan_limit,
            rng=rng,
        )
        self._orch: Host | None = None
        self._handover: dict[str, list[str]] = {}
        self._background: set[asyncio.Future[Any]] = set()
        self._saved = time.time()

    # -- components ----------------------------------------------------------------------------

    @hookimpl
    def alveary_strategies(self) -> Mapping[str, Strategy]:
        return {"context": self.strategy}

    # -- lifecycle -----------------------------------------------------------------------------

    @hookimpl
    def alveary_startup(self, orchestrator: Host) -> None:
        self._orch = orchestrator
        loaded = self.profiles.load(orchestrator.store.get_value(NAMESPACE, "profiles"))
        if loaded:
            log.info("profiles loaded", profiles=loaded, durable=orchestrator.store.durable)
        for agent in orchestrator.agents():
            self.fleet.add(agent)

    @hookimpl
    async def alveary_shutdown(self, orchestrator: Host) -> None:
        for future in list(self._background):
            future.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.save()

    @hookimpl
    def alveary_tick(self, orchestrator: Host, now: float) -> None:
        self._act(self.pressure.assess(orchestrator.agents(), self._pool_sizes()))
        self.rebalance()
        if self.profiles.dirty and now - self._saved >= self.config.save_interval:
            self.save()

    # -- registration --------------------------------------------------------------------------

    @hookimpl
    def alveary_agent_registered(self, agent: Agent) -> None:
        self.fleet.add(agent)
        waiting = self._handover.get(agent.pool) if agent.pool is not None else None
        if waiting:
            old = waiting.pop(0)
            moved = self.sessions.hand_over(old, agent.id)
            self.sessions.drop(old)
            self._emit(
                "context.handover", agent, {"from": old, "to": agent.name, "sessions": moved}
            )

    @hookimpl
    def alveary_agent_deregistered(self, agent: Agent) -> None:
        self.fleet.remove(agent)
        recycled = self.pressure.recycling.get(agent.id)
        self.pressure.forget(agent.id)
        if recycled is not None and self.sessions.count(agent.id):
            # its sessions wait for the replacement the pool starts next
            self._handover.setdefault(recycled, []).append(agent.id)
        else:
            self.sessions.drop(agent.id)

    # -- routing -------------------------------------------------------------------------------

    @hookimpl
    def alveary_route_filter(self, task: Task, candidates: Sequence[Agent]) -> list[Agent] | None:
        """Keep sleeping agents from all work and busy ones from high-priority work. O(1)
        while no such agent is a candidate, O(candidates) otherwise."""
        blocked = self.pressure.blocked(task.spec.priority >= Priority.HIGH)
        if not blocked:
            return None
        agents = self.fleet.agents
        if not any(agents.get(i) in candidates for i in blocked):
            return None
        return [a for a in candidates if a.id not in blocked]

    @hookimpl
    def alveary_route_score(self, task: Task, agent: Agent) -> float:
        return self.expertise.score(task, agent)

    # -- outcomes ------------------------------------------------------------------------------

    @hookimpl
    def alveary_attempt_finished(self, task: Task, agent: Agent, outcome: Outcome) -> None:
        """Every attempt ends here, its slot already freed: the fleet's sums follow; expertise
        and context usage learn from it unless it was cancelled."""
        self.fleet.sync(agent, agent.in_flight)
        if outcome.state is TaskState.CANCELLED:
            return
        self.expertise.learn(task, agent, outcome.ok, task.running_for)
        value = outcome.value
        if isinstance(value, Mapping) and self._orch is not None:
            usage = value.get(self.config.metric)
            if isinstance(usage, (int, float)) and not isinstance(usage, bool):
                try:
                    self._orch.heartbeat(agent.id, **{self.config.metric: float(usage)})
                except NotFound:
                    return
                self._act(self.pressure.assess([agent], self._pool_sizes()))

    # -- what the plugin offers ----------------------------------------------------------------

    def explain(self, task: Task | TaskSpec, top: int = 3) -> Explanation:
        """Why a task would go where: the ``top`` agents that could take it now by expertise,
        each part of their scores, a confidence and a sentence."""
        if isinstance(task, TaskSpec):
            task = Task("explain", task)
        key = task.spec.affinity_key
        holder = None if key is None else self.sessions.holder(key)
        blocked = self.pressure.blocked(task.spec.priority >= Priority.HIGH)
        return explain(task, self.fleet.agents.values(), self.expertise, holder, blocked, top)

    def save(self) -> None:
        """Write the learned profiles to the store (they survive a restart when the store is
        durable)."""
        self._saved = time.time()
        if self._orch is None or not self.profiles.dirty:
            return
        self._orch.store.put_value(NAMESPACE, "profiles", self.profiles.dump())
        self.profiles.dirty = False

    def rebalance(self) -> int:
        """Move up to ``rebalance_moves`` sessions from hot agents to cool ones; returns how
        many moved."""
        config = self.config
        if not config.rebalance_moves or not len(self.sessions):
            return 0
        agents = [
            a
            for a in self.fleet.agents.values()
            if a.id not in self.pressure.sleeping and a.id not in self.pressure.recycling
        ]
        loads = {a.id: self.admission.load(a) for a in agents}
        items = {a.id: self.sessions.movable(a.id) for a in agents}
        moves = plan_moves(
            loads, items, margin=config.rebalance_margin, limit=config.rebalance_moves
        )
        for move in moves:
            self.sessions.move(move.item, move.target)
        if moves:
            names = {a.id: a.name for a in agents}
            self._emit(
                "context.rebalanced",
                None,
                {
                    "moves": [
                        {"session": m.item, "from": names[m.source], "to": names[m.target]}
                        for m in moves
                    ]
                },
            )
        return len(moves)

    # -- acting on pressure --------------------------------------------------------------------

    def _act(self, actions: list[Action]) -> None:
        config = self.config
        for action in actions:
            agent, usage = action.agent, round(action.usage, 4)
            if action.kind == "busy":
                self._emit(
                    "context.busy",
                    agent,
                    {
                        "usage": usage,
                        "reason": f"{config.metric} {usage:.0%} >= {config.busy_above:.0%}: "
                        "no high-priority work",
                    },
                )
            elif action.kind == "clear":
                self._emit("context.clear", agent, {"usage": usage})
            elif action.kind == "wake":
                self._emit(
                    "context.wake",
                    agent,
                    {
                        "usage": usage,
                        "sessions": self.sessions.count(agent.id),
                        "reason": f"{config.metric} {usage:.0%} < {config.wake_below:.0%}",
                    },
                )
            else:
                self._sleep(action)

    def _sleep(self, action: Action) -> None:
        """Sleep or recycle an agent, saying why; its profiles are saved first (the recovery
        point), its sessions stay with it (sleep) or go to its replacement (recycle)."""
        config = self.config
        agent, usage = action.agent, round(action.usage, 4)
        threshold = config.critical_above if action.critical else config.sleep_above
        self.profiles.dirty = True
        self.save()
        self._emit(
            "context.sleep",
            agent,
            {
                "usage": usage,
                "action": action.kind,
                "critical": action.critical,
                "sessions": self.sessions.count(agent.id),
                "in_flight": agent.in_flight,
                "pool": agent.pool,
                "reason": f"{config.metric} {usage:.0%} >= {threshold:.0%}",
            },
        )
        if action.kind == "recycle" and self._orch is not None:
            orch = self._orch
            drain = not action.critical

            async def recycle() -> None:
                try:
                    await orch.deregister(agent.id, drain=drain, timeout=config.drain_timeout)
                except NotFound:
                    self.pressure.forget(agent.id)

            future = asyncio.ensure_future(recycle())
            self._background.add(future)
            future.add_done_callback(self._background.discard)

    # -- helpers -------------------------------------------------------------------------------

    def _pool_sizes(self) -> dict[str, int]:
        if self._orch is None:
            return {}
        return {name: len(pool.agents) for name, pool in self._orch.pools.items()}

    def _emit(self, type: str, agent: Agent | None, data: dict[str, Any]) -> None:
        if self._orch is None:
            return
        try:
            self._orch.emit(type, agent_id=None if agent is None else agent.id, data=data)
        except NotFound:
            self._orch.emit(type, data={"agent": None if agent is None else agent.name, **data})
