"""The kernel's enumerations: task priorities, agent and task states, health statuses."""

from __future__ import annotations

import enum

from ._values import shown


class Priority(enum.IntEnum):
    """How urgent a task is: higher values leave the queue first."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    CRITICAL = 3


class AgentState(str, enum.Enum):
    """Where an agent is in its life.

    ``starting -> ready <-> busy -> draining -> stopped``; any state may go to ``unhealthy``,
    which goes back to ``ready`` or on to ``failed``. ``busy`` means every slot is taken.
    """

    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    DRAINING = "draining"
    UNHEALTHY = "unhealthy"
    FAILED = "failed"
    STOPPED = "stopped"


class TaskState(str, enum.Enum):
    """Where a task is in its life.

    ``pending -> queued -> assigned -> running`` and then one terminal state. A failed attempt
    with attempts left goes back to ``pending`` until its backoff has passed.
    """

    terminal: bool
    """True for the four states a task never leaves. A plain attribute, not a property:
    it is read several times per task."""

    PENDING = "pending"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"

    def __init__(self, value: str) -> None:
        self.terminal = value in ("succeeded", "failed", "cancelled", "dead")


class HealthStatus(enum.IntEnum):
    """How an agent is doing; when reports disagree, the highest (worst) wins."""

    HEALTHY = 0
    DEGRADED = 1
    UNHEALTHY = 2
    FAILED = 3


def parse_priority(value: Priority | int | str) -> Priority:
    """A priority from its name (``"high"``) or its value (``2``); anything else is refused
    with the choices."""
    if isinstance(value, str):
        found = Priority.__members__.get(value.upper())
        if found is not None:
            return found
    elif isinstance(value, int) and not isinstance(value, bool) and value in _PRIORITIES:
        return Priority(value)
    choices = ", ".join(p.name.lower() for p in Priority)
    raise ValueError(f"expected one of {choices} (or 0 to 3), got {shown(value)}")


_PRIORITIES = frozenset(p.value for p in Priority)
