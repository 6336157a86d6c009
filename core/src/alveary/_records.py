"""The kernel's records: what agents, tasks, events and principals look like.

Specs and outcomes are frozen: they describe. ``Agent`` and ``Task`` are mutable, but only the
kernel changes them; plugins read them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from . import validators
from ._errors import FieldError
from ._states import AgentState, HealthStatus, Priority, TaskState, parse_priority


def _names(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(value)


def _task_priority(value: Priority | int | str) -> Priority:
    try:
        return parse_priority(value)
    except ValueError as exc:
        raise FieldError("priority", str(exc)) from None


@attrs.frozen
class AgentSpec:
    """What an agent is: its name, what it can do, how much at once, and where it runs.

    ``skills`` gives a level in ``[0, 1]`` per capability for scoring plugins; a capability
    without a level counts as 1.0. ``options`` are for the runtime (e.g. the local runtime's
    ``handler``); ``labels`` are free-form metadata that plugins may read.
    """

    name: str = attrs.field(validator=validators.name)
    capabilities: frozenset[str] = attrs.field(factory=frozenset, converter=_names)
    capacity: int = attrs.field(default=1, validator=validators.count)
    runtime: str = "local"
    options: Mapping[str, Any] = attrs.field(factory=dict)
    labels: Mapping[str, str] = attrs.field(factory=dict)
    skills: Mapping[str, float] = attrs.field(factory=dict, validator=validators.levels)


@attrs.define(eq=False)
class Agent:
    """A registered agent. The kernel owns and mutates it; plugins read it.

    ``in_flight`` counts tasks assigned and not finished; ``metrics`` holds what the agent last
    reported in a heartbeat (for example ``load`` or ``context`` usage, each in ``[0, 1]``).
    """

    id: str
    spec: AgentSpec
    state: AgentState = AgentState.STARTING
    in_flight: int = 0
    heartbeat: float = 0.0
    pool: str | None = None
    health: HealthStatus = HealthStatus.HEALTHY
    metrics: dict[str, float] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def free(self) -> int:
        """Slots left: capacity minus in-flight tasks."""
        return self.spec.capacity - self.in_flight

    @property
    def load(self) -> float:
        """In-flight tasks relative to capacity, in ``[0, 1]``."""
        return self.in_flight / self.spec.capacity


@attrs.frozen
class TaskSpec:
    """What to do: a task's kind, its payload and what an agent needs to take it.

    ``timeout`` is per attempt, in seconds, and covers the ``alveary_task_before`` gates.
    ``queue_timeout`` bounds how long the task may wait for an agent (None: as long as it
    takes); past it the task fails with the reason it could not be placed.
    ``max_attempts`` counts the first try.
    Submitting a spec with an ``idempotency_key`` already seen returns the earlier task.
    ``affinity_key`` lets hashing strategies send related tasks to the same agent.
    """

    kind: str = attrs.field(validator=validators.name)
    payload: Any = None
    requires: frozenset[str] = attrs.field(factory=frozenset, converter=_names)
    priority: Priority = attrs.field(default=Priority.MEDIUM, converter=_task_priority)
    timeout: float = attrs.field(default=300.0, validator=validators.positive)
    max_attempts: int = attrs.field(default=3, validator=validators.count)
    queue_timeout: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(validators.positive)
    )
    idempotency_key: str | None = None
    affinity_key: str | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Outcome:
    """How an attempt, or a task, ended: its state, its value or error, who ran it."""

    state: TaskState
    value: Any = None
    error: str | None = None
    agent_id: str | None = None
    attempts: int = 0
    retry: bool = True
    """False when the error is permanent: the task fails at once instead of retrying."""

    @property
    def ok(self) -> bool:
        return self.state is TaskState.SUCCEEDED


@attrs.define(eq=False)
class Task:
    """A submitted task. The kernel owns and mutates it; plugins read it.

    ``attempts`` counts attempts started; ``times`` maps each state to when the task last
    entered it (seconds since the epoch); ``outcome`` is set in a terminal state.
    """

    id: str
    spec: TaskSpec
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    agent_id: str | None = None
    submitted: float = 0.0
    times: dict[str, float] = attrs.field(factory=dict)
    outcome: Outcome | None = None
    principal: str | None = None

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def payload(self) -> Any:
        """The spec's payload: what a handler works on."""
        return self.spec.payload

    @property
    def running_for(self) -> float | None:
        """Seconds since the latest attempt started running (None if none has): in
        ``alveary_task_after``, how long the attempt took."""
        started = self.times.get(TaskState.RUNNING.value)
        return None if started is None else max(0.0, time.time() - started)


class EventSlots:
    """The fields of ``Event`` as slots of a base class, so that a mutable subclass of the
    same layout can exist: the event bus fills one with plain stores and then makes it an
    ``Event`` (``_events``). Not for plugins."""

    __slots__ = ("__weakref__", "agent_id", "data", "seq", "task_id", "time", "type")
    type: str
    time: float
    seq: int
    task_id: str | None
    agent_id: str | None
    data: Mapping[str, Any]


@attrs.frozen
class Event(EventSlots):
    """Something that happened. ``type`` is dotted: ``task.succeeded``, ``agent.ready``,
    ``plugin.failed``. ``seq`` orders events of one orchestrator."""

    type: str
    time: float
    seq: int = 0
    task_id: str | None = None
    agent_id: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Principal:
    """Who is asking: an authenticated identity and its roles."""

    id: str
    roles: frozenset[str] = attrs.field(factory=frozenset, converter=_names)


ANONYMOUS = Principal("anonymous")


@attrs.frozen
class HealthReport:
    """One check's verdict on an agent, with the reason an operator will read."""

    status: HealthStatus
    reason: str = ""
    source: str = ""


@attrs.frozen
class PoolSize:
    min: int = 1
    max: int | None = None

    def clamp(self, n: int) -> int:
        high = self.max if self.max is not None else self.min
        return max(self.min, min(n, high))


@attrs.define(eq=False)
class Pool:
    """A declared group of agents sharing one spec. Scaling plugins change ``desired``."""

    name: str
    spec: AgentSpec
    size: PoolSize
    desired: int
    agents: list[str] = attrs.field(factory=list)
    started: int = 0
    starting: int = 0
    """Agents being started for it in the background."""
    failures: int = 0
    """Consecutive failures of its agents (a start that failed, an agent that failed); a
    failure more than ``2 * restart_max`` seconds after the previous one starts a new count."""
    failed_at: float = 0.0
    """When the last of those failures happened (seconds since the epoch)."""
    restart_at: float = 0.0
    """No agent of the pool is started before this time: the restart backoff."""


@attrs.frozen
class PoolMetrics:
    """What a scaling plugin sees of a pool at a tick."""

    agents: int
    ready: int
    busy: int
    in_flight: int
    capacity: int
    queued: int
    """Tasks waiting that this pool's agents could take."""
    idle: int = 0
    """Ready agents with no task in flight: what a scale-down can remove."""
    oldest_wait: float = 0.0
    """Seconds the longest-waiting of those queued tasks has been waiting (0 with none)."""
