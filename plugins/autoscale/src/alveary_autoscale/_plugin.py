"""The ``autoscale`` plugin: proposes each pool's size at every tick through ``alveary_scale``.

The kernel clamps the answer to the pool's ``size``, starts agents or removes idle ones, and
emits ``pool.scaled``; this plugin emits ``autoscale.decision`` with the inputs and the
proposals behind every change, and behind every change it held back.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import alveary
from alveary import Outcome, TaskState

from . import _config
from ._config import Policy
from ._decide import Decision, Scaler
from ._signals import PoolStats, host_memory


class Autoscale:
    """Scales pools by policies made of data: a work target, utilisation bands, a queue-wait
    limit and rules, paced by cool-downs, hysteresis and step caps, with shedding of idle
    agents under memory pressure."""

    Config = _config.Config

    def __init__(self, config: _config.Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._orch: alveary.Host | None = None
        self._scalers: dict[str, Scaler] = {}
        self._stats: dict[str, PoolStats] = {}
        self._held: dict[str, str | None] = {}
        self.decisions: deque[Decision] = deque(maxlen=1000)
        """The latest decisions that changed a size or held a change back, newest last."""
        self.memory: Callable[[], float | None] = host_memory
        """Where the host's memory pressure comes from (a fraction in use, or None)."""

    def policy(self, pool: str) -> Policy | None:
        """The policy for ``pool``, or None if the plugin leaves it alone."""
        found = self.config.pools.get(pool)
        if found is None and self.config.scale_all:
            return Policy()
        return found

    # -- hooks ---------------------------------------------------------------------------------

    @alveary.hookimpl
    def alveary_check_config(self, config: alveary.Config) -> list[str]:
        declared = [p.name for p in config.pools]
        return [
            config.source.error(
                ("plugins", "autoscale", "pools", name),
                f"a policy for pool {name!r}, which [[pools]] does not declare "
                f"(declared: {', '.join(declared) or 'none'})",
            )
            for name in self.config.pools
            if name not in declared
        ]

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        self._orch = orchestrator

    @alveary.hookimpl
    def alveary_task_after(
        self, task: alveary.Task, agent: alveary.Agent, outcome: Outcome
    ) -> None:
        if agent.pool is None or (outcome.state is TaskState.FAILED and not outcome.retry):
            return
        took = task.running_for
        if took is None:
            return
        stats = self._stats.get(agent.pool)
        if stats is None:
            stats = self._stats[agent.pool] = PoolStats()
        stats.observe(took, outcome.ok)

    @alveary.hookimpl
    def alveary_scale(self, pool: alveary.Pool, metrics: alveary.PoolMetrics) -> int | None:
        policy = self.policy(pool.name)
        if policy is None:
            return None
        scaler = self._scalers.get(pool.name)
        if scaler is None:
            scaler = self._scalers[pool.name] = Scaler(pool.name, policy)
        high = pool.size.max if pool.size.max is not None else pool.size.min
        decision = scaler.decide(
            pool.desired, pool.size.min, high, self.inputs(pool, metrics), self._clock()
        )
        self._record(decision)
        return decision.target

    # -- helpers -------------------------------------------------------------------------------

    def observe(self, pool: str, duration: float, ok: bool) -> None:
        """Count a finished attempt of ``pool`` (``alveary_task_after`` does it in a run)."""
        stats = self._stats.get(pool)
        if stats is None:
            stats = self._stats[pool] = PoolStats()
        stats.observe(duration, ok)

    def inputs(self, pool: alveary.Pool, metrics: alveary.PoolMetrics) -> dict[str, float]:
        """Every metric a rule may name, for ``pool`` now."""
        found: dict[str, float] = {
            "agents": metrics.agents,
            "ready": metrics.ready,
            "busy": metrics.busy,
            "idle": metrics.idle,
            "in_flight": metrics.in_flight,
            "capacity": metrics.capacity,
            "slots": pool.spec.capacity,
            "queued": metrics.queued,
            "utilisation": metrics.in_flight / metrics.capacity if metrics.capacity else 0.0,
            "queue_wait": metrics.oldest_wait,
        }
        stats = self._stats.get(pool.name)
        if stats is not None:
            if stats.ewma is not None:
                found["duration"] = stats.ewma
            p95, errors = stats.p95, stats.error_rate
            if p95 is not None:
                found["duration_p95"] = p95
            if errors is not None:
                found["error_rate"] = errors
        memory = self.memory()
        if memory is not None:
            found["memory"] = memory
        return found

    def _record(self, decision: Decision) -> None:
        """Keep and announce a change, or a held change when the reason it is held changes."""
        changed = decision.target != decision.size
        if not changed and self._held.get(decision.pool) == decision.held:
            return
        self._held[decision.pool] = decision.held
        if not changed and decision.held is None:
            return
        self.decisions.append(decision)
        if self._orch is not None:
            self._orch.emit("autoscale.decision", data=decision.data())

    def stats(self, pool: str) -> dict[str, Any]:
        """The pool's recent attempts as the policy sees them."""
        stats = self._stats.get(pool)
        if stats is None:
            return {}
        return {"duration": stats.ewma, "duration_p95": stats.p95, "error_rate": stats.error_rate}
