"""Write-behind with group commit, shared by the durable stores.

The kernel saves a task on every transition, on the event loop's hot path. A store keeps what
it reads in memory and hands the saves to a ``WriteBehind``: it remembers the latest state of
each dirty task and writes them in batches from a task of its own, every ``interval`` seconds,
or as soon as someone awaits ``commit`` or a task finishes (a result lost to a crash would
mean running the task again). Every ``commit`` waiting when a batch is taken is
answered by that one write, so concurrent submits share it. A write that fails is retried with
backoff, merged with what was saved meanwhile; nothing taken is dropped.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import structlog
from alveary import StoreError, Task, unstructure

log = structlog.get_logger("alveary.state")

DELETE = None
"""A value of None in ``Batch.values`` deletes the value."""


class Fenced(StoreError):
    """Raised by a store's write: this process may not write the store any more (another
    orchestrator leads it). What was buffered is dropped and every commit fails from then on:
    nothing is acknowledged that was not written."""


@attrs.define
class Batch:
    """What one write makes durable: tasks as JSON-able data, new idempotency keys, values."""

    tasks: dict[str, dict[str, Any]] = attrs.Factory(dict)
    keys: dict[str, str] = attrs.Factory(dict)
    values: dict[tuple[str, str], Any] = attrs.Factory(dict)

    def __bool__(self) -> bool:
        return bool(self.tasks or self.keys or self.values)

    def merge(self, newer: Batch) -> None:
        """Add a later batch: its tasks and values win; keys are only ever added."""
        self.tasks.update(newer.tasks)
        self.keys.update(newer.keys)
        self.values.update(newer.values)


WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Upper bounds, in seconds, of the write latency's buckets (the last one is ``+Inf``)."""


class Latency:
    """How long each batch write took: counts per bucket (``bounds``, then ``+Inf``) and
    the sum, in seconds. A store's ``write_latency``; the metrics plugin exports it."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = WRITE_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds


def finished_at(data: dict[str, Any]) -> float | None:
    """When a task (as data) reached its terminal state, or None while it is unfinished."""
    state = data["state"]
    if state in {"succeeded", "failed", "cancelled", "dead"}:
        return float(data["times"].get(state, data["submitted"]))
    return None


class WriteBehind:
    """Buffers saves and writes them in batches through ``write``; see the module."""

    def __init__(
        self,
        write: Callable[[Batch], Awaitable[None]],
        *,
        interval: float,
        report: Callable[[str, dict[str, Any]], None],
        latency: Latency,
        max_retry: float = 5.0,
    ) -> None:
        self._write = write
        self._latency = latency
        self._interval = interval
        self._report = report
        self._max_retry = max_retry
        self._tasks: dict[str, Task] = {}
        self._keys: dict[str, str] = {}
        self._values: dict[tuple[str, str], Any] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self.inflight: dict[str, Task] = {}
        """Tasks taken for the write under way: still readable until it is done."""
        self.failing: str | None = None
        """Why the last write failed, while writes are failing."""
        self.fenced: Fenced | None = None
        """Set once a write was fenced off: nothing more is written."""

    # -- what the store calls -----------------------------------------------------------------

    def task(self, task: Task) -> None:
        self._tasks[task.id] = task
        if task.state.terminal:  # a result lost to a crash means running the task again
            self._wake.set()

    def key(self, key: str, task_id: str) -> None:
        self._keys[key] = task_id

    def value(self, namespace: str, key: str, value: Any) -> None:
        self._values[(namespace, key)] = value

    def pending(self, task_id: str) -> Task | None:
        """The task if it was saved but is not written yet."""
        return self._tasks.get(task_id) or self.inflight.get(task_id)

    def unwritten(self) -> list[Task]:
        return [*self.inflight.values(), *self._tasks.values()]

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def commit(self) -> None:
        if self.fenced is not None:
            raise self.fenced
        if self._runner is None or self._runner.done():
            raise StoreError("the store is not open")
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        await waiter

    async def close(self) -> None:
        """Write what is buffered, then stop."""
        self._closing = True
        self._wake.set()
        if self._runner is not None:
            await self._runner

    # -- the writer ---------------------------------------------------------------------------

    def _take(self) -> tuple[Batch, list[asyncio.Future[None]]]:
        tasks, self._tasks = self._tasks, {}
        self.inflight.update(tasks)
        batch = Batch({i: unstructure(t) for i, t in tasks.items()}, self._keys, self._values)
        self._keys, self._values = {}, {}
        waiters, self._waiters = self._waiters, []
        return batch, waiters

    async def _run(self) -> None:
        while True:
            if not self._wake.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            closing = self._closing
            batch, waiters = self._take()
            if batch and self.fenced is None:
                try:
                    await self._write_until_done(batch, waiters)
                except Fenced as exc:
                    log.error("store writes fenced off; dropping what is buffered", reason=str(exc))
                    self.fenced = exc
            self.inflight.clear()
            for waiter in waiters:
                if waiter.done():
                    continue
                if self.fenced is not None:
                    waiter.set_exception(self.fenced)
                else:
                    waiter.set_result(None)
            if closing and not self._tasks and not self._keys and not self._values:
                return

    async def _write_until_done(self, batch: Batch, waiters: list[asyncio.Future[None]]) -> None:
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                await self._write(batch)
            except Fenced:
                raise
            except Exception as exc:  # the store is down or refuses: keep everything, retry
                reason = str(exc) or type(exc).__name__
                if self.failing is None:
                    log.warning("store write failed; retrying", error=reason)
                self.failing = reason
                self._report("store.failing", {"error": reason, "retry_in": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry)
                newer, more = self._take()
                batch.merge(newer)
                waiters.extend(more)
                continue
            self._latency.observe(time.perf_counter() - started)
            if self.failing is not None:
                log.info("store writes recovered")
                self._report("store.recovered", {"after": self.failing})
                self.failing = None
            return
