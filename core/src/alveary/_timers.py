"""Deadlines: attempt timeouts, retry backoffs and queue timeouts on one timer.

Every deadline goes into one heap, read against the orchestrator's clock, with a single event
loop timer armed for the earliest. Cancelling is O(1) (the entry is marked dead and skipped);
dead entries are compacted away once they outnumber the live ones, so a long timeout on many
short attempts does not pile up memory.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("alveary")

Entry = list[Any]
"""``[when, seq, fn, arg]``; ``fn`` is None once cancelled or fired."""


class Deadlines:
    """Call ``fn(arg)`` once the clock reaches ``when``."""

    __slots__ = ("_dead", "_handle", "_heap", "_loop", "_now", "_seq", "_when")

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._heap: list[Entry] = []
        self._seq = 0
        self._dead = 0
        self._handle: asyncio.TimerHandle | None = None
        self._when = float("inf")
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._heap) - self._dead

    def at(self, when: float, fn: Callable[[Any], object], arg: Any) -> Entry:
        """Schedule ``fn(arg)`` at clock time ``when``; returns the entry to ``cancel``."""
        self._seq += 1
        entry: Entry = [when, self._seq, fn, arg]
        heapq.heappush(self._heap, entry)
        if when < self._when:
            self._arm(when)
        return entry

    def cancel(self, entry: Entry) -> None:
        if entry[2] is not None:
            entry[2] = entry[3] = None  # a dead entry keeps nothing alive (an attempt's task)
            self._dead += 1
            if self._dead > 1024 and self._dead * 2 > len(self._heap):
                self._heap = [e for e in self._heap if e[2] is not None]
                heapq.heapify(self._heap)
                self._dead = 0

    def sweep(self) -> None:
        """Fire every deadline that has passed, then arm the timer for the next one. Called
        by that timer and by each tick (a test's clock may have jumped)."""
        self.close()  # the tick's call must not leave the armed timer behind
        heap = self._heap
        now = self._now()
        while heap and (heap[0][2] is None or heap[0][0] <= now):
            entry = heapq.heappop(heap)
            fn = entry[2]
            if fn is None:
                self._dead -= 1
                continue
            entry[2] = None
            try:
                fn(entry[3])
            except Exception:  # a kernel bug must not stop every later deadline
                log.exception("deadline callback failed")
        if heap:
            self._arm(heap[0][0])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._when = float("inf")

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._when = when
        self._handle = self._loop.call_later(max(0.0, when - self._now()), self.sweep)
