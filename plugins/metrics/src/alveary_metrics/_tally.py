"""The tally: what events say, counted as they come, in plain numbers.

``alveary_event`` is on the hot path, so nothing here formats a string or takes a lock, and
only two events per task are asked for: ``task.pending`` (submitted, or back for a retry)
and the task's final one. How long an attempt waited in the queue is read off the task's
record (``times``) at the next of those; what waits now is read from the host at a scrape.
Label values are only made at scrape time (``_collect``). Everything runs in the
orchestrator's event loop, scrapes included, so no two of these run at once.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from alveary import Event, Host, NotFound, Task

if TYPE_CHECKING:  # _config reads RECENT from here for the objectives
    from ._config import Config

OTHER = "other"
"""The label of what is over a cardinality limit: kinds, event types."""

FINAL = ("succeeded", "failed", "cancelled", "dead")
TIMEOUT = "timed out after "
"""How the kernel words the error of an attempt that ran out of time."""
RECENT = 10_000
"""Ended tasks, and refused callers, remembered for the windowed metrics of alert rules: a
window holds at most this many of the latest."""


class Histogram:
    """Counts per bucket (the last one is ``+Inf``) and the sum of what was observed.
    The handlers below add to them inline: a method call per observation costs more than
    the observation."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0


class Kind:
    """What happened to the tasks of one kind (or of every kind over the limit)."""

    __slots__ = ("duration", "finished", "retried", "submitted", "timed_out", "wait")

    def __init__(self, config: Config) -> None:
        self.submitted = 0
        self.retried = 0
        self.timed_out = 0
        self.finished = dict.fromkeys(FINAL, 0)
        self.duration = Histogram(config.duration_buckets)
        self.wait = Histogram(config.wait_buckets)


class Ended:
    """Tasks that ended in a window: their seconds from submission to the end, sorted, and
    how many ended in each final state."""

    __slots__ = ("states", "took")

    def __init__(self, took: list[float], states: dict[str, int]) -> None:
        self.took = took
        self.states = states

    @property
    def error_rate(self) -> float | None:
        """Failed or dead among those not cancelled; ``None`` without any."""
        failed = self.states["failed"] + self.states["dead"]
        counted = failed + self.states["succeeded"]
        return failed / counted if counted else None

    @property
    def p95(self) -> float | None:
        """The 95th percentile (nearest rank) of ``took``; ``None`` when empty."""
        took = self.took
        return took[math.ceil(0.95 * len(took)) - 1] if took else None


class Tally:
    """Counters and histograms fed by ``alveary_event``, through ``on`` (a handler per
    event type); ``_collect`` reads them."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.host: Host | None = None
        self.kinds: dict[str, Kind] = {}
        self.live: dict[str | None, tuple[Kind, Task, float]] = {}
        """Tasks between their submission and their end, by id (events without one find
        nothing): their kind, their record, and when they last became pending (the current
        attempt's wait is counted from the record's times after that). A tuple, not a
        class: one is made per task."""
        self.scaled: dict[tuple[str, str, str], int] = {}
        """Scaling decisions by (pool, up or down, by whom)."""
        self.recent: deque[tuple[float, Kind, float, str]] = deque(maxlen=RECENT)
        """The latest ended tasks: when, their kind, seconds since submission, final state."""
        self.unauthenticated: deque[float] = deque(maxlen=RECENT)
        """When the latest callers were refused as not authenticated."""
        self.breakers: dict[str, str] = {}
        """Agent id -> its circuit breaker's state (health plugin), unless closed."""
        self.on: Mapping[str, Callable[[Event], None]] = {
            "task.pending": self._pending,
            "pool.scaled": self._scaled,
            "security.denied": self._denied,
            "health.breaker": self._breaker,
            **{f"task.{state}": self._ender(state) for state in FINAL},
        }

    @property
    def types(self) -> frozenset[str]:
        """The event types the tally reads: what the plugin asks the kernel for."""
        return frozenset(self.on)

    def kind(self, name: str) -> Kind:
        """The counters of kind ``name``, or of ``other`` past ``max_kinds``."""
        found = self.kinds.get(name)
        if found is None:
            if len(self.kinds) >= self.config.max_kinds:
                name = OTHER
            found = self.kinds.get(name)
            if found is None:
                found = self.kinds[name] = Kind(self.config)
        return found

    def ended(self, start: float, kind: Kind | None = None) -> Ended:
        """The tasks (of ``kind``, or of every kind) that ended after ``start``, among the
        latest ``RECENT``."""
        took: list[float] = []
        states = dict.fromkeys(FINAL, 0)
        for time, of, seconds, state in reversed(self.recent):
            if time <= start:
                break
            if kind is None or of is kind:
                took.append(seconds)
                states[state] += 1
        took.sort()
        return Ended(took, states)

    # -- task events ---------------------------------------------------------------------------

    def _pending(self, event: Event) -> None:
        task_id = event.task_id
        live = self.live.get(task_id)
        if live is not None:  # back from a failed attempt, or requeued
            kind, task, pending = live
            self._waited(kind, task.times, pending)
            self.live[task_id] = (kind, task, task.times.get("pending", event.time))
            data = event.data
            if "retry_in" in data:
                kind.retried += 1
                if data.get("error", "").startswith(TIMEOUT):
                    kind.timed_out += 1
            return
        if self.host is None or task_id is None:
            return
        try:
            task = self.host.get_task(task_id)
        except NotFound:  # gone already: nothing to follow
            return
        kind = self.kind(task.spec.kind)
        if not event.data:  # new, not recovered from a durable store or requeued
            kind.submitted += 1
        self.live[task_id] = (kind, task, task.times.get("pending", 0.0))

    @staticmethod
    def _waited(kind: Kind, times: Mapping[str, float], pending: float) -> None:
        """Count the queue wait of the attempt that began after ``pending``, if one was
        assigned since: from queued to assigned, or 0 s when placed at once."""
        assigned = times.get("assigned")
        if assigned is None or assigned < pending:
            return
        queued = times.get("queued")
        wait = kind.wait
        waited = assigned - queued if queued is not None and queued >= pending else 0.0
        if waited > 0.0:
            wait.counts[bisect_left(wait.bounds, waited)] += 1
            wait.sum += waited
        else:
            wait.counts[0] += 1

    def _ender(self, state: str) -> Callable[[Event], None]:
        def end(event: Event) -> None:
            live = self.live.pop(event.task_id, None)
            if live is None:
                return
            kind, task, pending = live
            self._waited(kind, task.times, pending)
            kind.finished[state] += 1
            took = event.time - (task.submitted or pending)
            self.recent.append((event.time, kind, took, state))
            duration = kind.duration
            if took > 0.0:
                duration.counts[bisect_left(duration.bounds, took)] += 1
                duration.sum += took
            else:
                duration.counts[0] += 1
            if state != "succeeded":
                error = event.data.get("error")
                if error is not None and error.startswith(TIMEOUT):
                    kind.timed_out += 1

        return end

    # -- pool events ---------------------------------------------------------------------------

    def _scaled(self, event: Event) -> None:
        data: Mapping[str, Any] = event.data
        direction = "up" if data.get("to", 0) > data.get("from", 0) else "down"
        pool = data.get("pool")
        if self.host is None or pool not in self.host.pools:  # only declared pools: bounded
            return
        key = (str(pool), direction, str(data.get("by")))
        self.scaled[key] = self.scaled.get(key, 0) + 1

    # -- health events -------------------------------------------------------------------------

    def _breaker(self, event: Event) -> None:
        agent = event.agent_id or event.data.get("agent")
        state = event.data.get("state")
        if not isinstance(agent, str):
            return
        if state in ("open", "half-open"):
            self.breakers[agent] = state
        else:
            self.breakers.pop(agent, None)

    # -- security events -----------------------------------------------------------------------

    def _denied(self, event: Event) -> None:
        if event.data.get("reason") == "not authenticated":
            self.unauthenticated.append(event.time)


def queues(host: Host | None) -> dict[int, tuple[int, float]]:
    """What waits in the queue now, by priority: how many tasks, and since when the oldest
    has waited (the host's clock)."""
    found: dict[int, tuple[int, float]] = {}
    if host is None:
        return found
    for task in host.waiting():
        priority = int(task.spec.priority)
        since = task.times.get("queued", task.submitted)
        seen = found.get(priority)
        found[priority] = (1, since) if seen is None else (seen[0] + 1, min(seen[1], since))
    return found
