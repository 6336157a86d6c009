"""Following a demo run through the orchestrator's events: counts for the progress bar and the
summary, attempts per agent, and the event log, one JSON line per event."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Mapping
from typing import TextIO

import attrs
from alveary import Event, Orchestrator, unstructure

TERMINAL = ("succeeded", "failed", "cancelled", "dead")

EXAMPLES = 4
"""Errors of failed and dead tasks kept to show in the summary, one per state and cause."""


@attrs.define
class AgentStats:
    """The attempts one agent finished: how many, how many did not succeed, time spent."""

    name: str
    pool: str
    attempts: int = 0
    failures: int = 0
    busy: float = 0.0

    @property
    def mean_ms(self) -> float:
        return 1000 * self.busy / self.attempts if self.attempts else 0.0


@attrs.define
class EventStats:
    """What the event stream says so far. ``terminal`` counts terminal events per task: the
    invariant is exactly one for every submitted task."""

    total: int
    names: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)
    """Agent id -> (name, pool), for the per-agent table."""
    events: int = 0
    states: Counter[str] = attrs.field(factory=Counter)
    terminal: Counter[str] = attrs.field(factory=Counter)
    retries: int = 0
    timeouts: int = 0
    stuck: float = 0.0
    """Seconds agents spent in attempts that timed out."""
    agents: dict[str, AgentStats] = attrs.field(factory=dict)
    errors: list[tuple[str, str, str]] = attrs.field(factory=list)
    """(task id, state, error) of the first failed or dead task of each state and cause."""
    _running: dict[str, tuple[str, float]] = attrs.field(factory=dict)

    @property
    def done(self) -> int:
        return sum(self.states.values())

    def feed(self, event: Event) -> None:
        """Account for one event."""
        self.events += 1
        if not event.type.startswith("task.") or event.task_id is None:
            return
        state = event.type[5:]
        if state == "running" and event.agent_id is not None:
            self._running[event.task_id] = (event.agent_id, event.time)
            return
        retried = state == "pending" and "error" in event.data
        if not retried and state not in TERMINAL:
            return
        error = str(event.data.get("error", ""))
        spent = self._end_attempt(event, ok=state == "succeeded")
        if error.startswith("timed out"):
            self.timeouts += 1
            self.stuck += spent
        if retried:
            self.retries += 1
            return
        self.states[state] += 1
        self.terminal[event.task_id] += 1
        if state in ("failed", "dead") and len(self.errors) < EXAMPLES:
            cause = (state, error.partition(":")[0])
            if all((s, e.partition(":")[0]) != cause for _, s, e in self.errors):
                self.errors.append((event.task_id, state, error))

    def _end_attempt(self, event: Event, *, ok: bool) -> float:
        """Charge the attempt that just ended to its agent; return how long it ran."""
        assert event.task_id is not None
        started = self._running.pop(event.task_id, None)
        if started is None:  # cancelled before it ran
            return 0.0
        agent_id, since = started
        stats = self.agents.get(agent_id)
        if stats is None:
            name, pool = self.names.get(agent_id, (agent_id, "-"))
            stats = self.agents[agent_id] = AgentStats(name, pool)
        spent = max(0.0, event.time - since)
        stats.attempts += 1
        stats.failures += not ok
        stats.busy += spent
        return spent


async def follow(orch: Orchestrator, stats: EventStats, log: TextIO) -> None:
    """Write every event of ``orch`` to ``log`` as a JSON line and feed it to ``stats``, until
    the orchestrator stops."""
    async for event in orch.events():
        log.write(json.dumps(unstructure(event), separators=(",", ":")) + "\n")
        stats.feed(event)


class Progress:
    """The progress bar: redrawn in place on a terminal, else one line per tenth done."""

    WIDTH = 20

    def __init__(self, stats: EventStats, out: TextIO, *, tty: bool) -> None:
        self.stats = stats
        self.out = out
        self.tty = tty
        self.started = time.perf_counter()
        self.ended: float | None = None
        """Set when the last task finished: the rate stops counting shutdown time."""
        self._shown = -1
        self._drawn = 0

    @property
    def elapsed(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    def line(self) -> str:
        s = self.stats
        done, total = s.done, s.total
        filled = self.WIDTH * done // total
        rate = done / max(self.elapsed, 1e-9)
        cancelled = f" cancelled {s.states['cancelled']}" if s.states["cancelled"] else ""
        return (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}"
            f"  ok {s.states['succeeded']} failed {s.states['failed']}"
            f" dead {s.states['dead']}{cancelled}  retries {s.retries}  {rate:.0f} tasks/s"
        )

    def update(self, *, final: bool = False) -> None:
        """Redraw (terminal), or print a line when another tenth is done (anything else)."""
        if self.tty:
            text = self.line()
            self.out.write("\r" + text.ljust(self._drawn) + ("\n" if final else ""))
            self._drawn = len(text)
        else:
            tenth = 10 * self.stats.done // self.stats.total
            if tenth > self._shown and (tenth > 0 or final):
                self._shown = tenth
                self.out.write(self.line() + "\n")
        self.out.flush()

    async def run(self, interval: float) -> None:
        """Update every ``interval`` seconds until cancelled."""
        while True:
            self.update()
            await asyncio.sleep(interval)
