"""What the API takes and answers: frozen attrs records, documented in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import attrs
from alveary import Agent, Host, Pool, PoolMetrics, Task, TaskState


@attrs.frozen
class SubmitTask:
    """The body of ``POST /v1/tasks``: a ``TaskSpec`` as JSON."""

    kind: str
    payload: Any = None
    requires: list[str] = attrs.field(factory=list)
    priority: int | str = "medium"
    timeout: float = 300.0
    max_attempts: int = 3
    queue_timeout: float | None = None
    idempotency_key: str | None = None
    affinity_key: str | None = None
    labels: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class PoolSizeBody:
    """The body of ``PUT /v1/pools/{name}/size``: no ``max`` keeps the pool at ``min``."""

    min: int
    max: int | None = None


@attrs.frozen
class TaskRecord:
    """A task: its spec, state, attempts, agent, times (state -> epoch seconds) and, once
    terminal, its value or error. ``waiting``, while the task is not placed yet, says why
    no agent could ever take it as things stand (no agent and no pool has what it requires);
    it is null when one could."""

    id: str
    kind: str
    state: str
    attempts: int
    max_attempts: int
    priority: str
    requires: list[str]
    payload: Any
    agent_id: str | None
    submitted: float
    times: dict[str, float]
    value: Any
    error: str | None
    idempotency_key: str | None
    affinity_key: str | None
    labels: dict[str, str]
    waiting: str | None

    @classmethod
    def of(cls, task: Task, host: Host) -> TaskRecord:
        spec, outcome = task.spec, task.outcome
        unplaced = task.state is TaskState.PENDING or task.state is TaskState.QUEUED
        return cls(
            id=task.id,
            kind=spec.kind,
            state=task.state.value,
            attempts=task.attempts,
            max_attempts=spec.max_attempts,
            priority=spec.priority.name.lower(),
            requires=sorted(spec.requires),
            payload=spec.payload,
            agent_id=task.agent_id,
            submitted=task.submitted,
            times=dict(task.times),
            value=None if outcome is None else outcome.value,
            error=None if outcome is None else outcome.error,
            idempotency_key=spec.idempotency_key,
            affinity_key=spec.affinity_key,
            labels=dict(spec.labels),
            waiting=host.unplaceable(spec.requires) if unplaced else None,
        )


@attrs.frozen
class TaskPage:
    """One page of tasks; ``next`` is the cursor of the following page (None: the last)."""

    items: list[TaskRecord]
    next: str | None


@attrs.frozen
class AgentRecord:
    """An agent: state, health, load, capabilities and pool."""

    id: str
    name: str
    state: str
    health: str
    in_flight: int
    capacity: int
    load: float
    capabilities: list[str]
    runtime: str
    pool: str | None
    heartbeat: float
    metrics: dict[str, float]
    labels: dict[str, str]

    @classmethod
    def of(cls, agent: Agent) -> AgentRecord:
        spec = agent.spec
        return cls(
            id=agent.id,
            name=agent.name,
            state=agent.state.value,
            health=agent.health.name.lower(),
            in_flight=agent.in_flight,
            capacity=spec.capacity,
            load=agent.load,
            capabilities=sorted(spec.capabilities),
            runtime=spec.runtime,
            pool=agent.pool,
            heartbeat=agent.heartbeat,
            metrics=dict(agent.metrics),
            labels=dict(spec.labels),
        )


@attrs.frozen
class PoolRecord:
    """A pool: its bounds, the size scaling asked for, its agents and what they do."""

    name: str
    min: int
    max: int | None
    desired: int
    runtime: str
    capabilities: list[str]
    agents: list[str]
    metrics: PoolMetrics

    @classmethod
    def of(cls, pool: Pool, metrics: PoolMetrics) -> PoolRecord:
        return cls(
            name=pool.name,
            min=pool.size.min,
            max=pool.size.max,
            desired=pool.desired,
            runtime=pool.spec.runtime,
            capabilities=sorted(pool.spec.capabilities),
            agents=list(pool.agents),
            metrics=metrics,
        )


@attrs.frozen
class Drained:
    """The answer of ``POST /v1/agents/{name}/drain``: False if ``timeout`` passed first."""

    drained: bool


@attrs.frozen
class Cancelled:
    """The answer of ``DELETE /v1/tasks/{id}``: False if the task had already finished."""

    cancelled: bool
    task: TaskRecord


@attrs.frozen
class Status:
    """Liveness or readiness; ``leader`` names the replica to use while this one stands by,
    ``missing`` how many agents each remote pool still waits for."""

    ok: bool
    leader: str | None = None
    missing: dict[str, int] | None = None


@attrs.frozen
class ErrorDetail:
    code: str
    message: str
    field: str | None = None


@attrs.frozen
class ErrorBody:
    """Every error: ``{"error": {"code", "message", "field"}}``."""

    error: ErrorDetail
