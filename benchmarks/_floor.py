"""The floor: the least a bare asyncio program does for the same work.

An ``asyncio.Queue`` of work items, each with a future, served by N worker coroutines that
call the same no-op handler: no records, no routing, no hooks. The kernel cannot beat it;
kernel/floor ratios say what the kernel's bookkeeping costs on top.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from _common import GcTimer, latency
from _kernel import noop

_Item = tuple[Any, "asyncio.Future[Any]"]


class Floor:
    """N worker coroutines taking ``(item, future)`` pairs from one queue."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Floor:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self.workers)]
        await asyncio.sleep(0)  # let every worker reach queue.get()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(self) -> None:
        queue = self._queue
        while True:
            item, future = await queue.get()
            future.set_result(await noop(item))

    def submit(self, item: Any) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return future


async def round_trips(workers: int, count: int, warmup: int) -> dict[str, Any]:
    """Put one item, await its future, then the next."""
    clock = time.perf_counter_ns
    samples = []
    async with Floor(workers) as floor:
        gc.collect()
        for i in range(warmup + count):
            start = clock()
            await floor.submit(i)
            elapsed = clock() - start
            if i >= warmup:
                samples.append(elapsed)
    return latency(samples)


async def throughput(workers: int, count: int) -> dict[str, Any]:
    """Put ``count`` items, then await every future."""
    async with Floor(workers) as floor:
        gc.collect()
        with GcTimer() as collector:
            start = time.perf_counter()
            futures = [floor.submit(i) for i in range(count)]
            await asyncio.gather(*futures)
            elapsed = time.perf_counter() - start
    return {
        "tasks": count,
        "seconds": elapsed,
        "tasks_per_s": count / elapsed,
        "gc_seconds": collector.seconds,
        "gc_collections": collector.collections,
    }


async def throughput_window(workers: int, count: int, runs: int) -> dict[str, Any]:
    """``runs`` throughput runs back to back, reported as one: the floor does a kernel run's
    work about ten times faster, so a single run of it lasts a fraction of a second, and one
    pause of a shared machine moves it by a third. Back to back they span about as long as
    the kernel run they are compared with, and meet the same pauses."""
    parts = [await throughput(workers, count) for _ in range(runs)]
    seconds = sum(part["seconds"] for part in parts)
    return {
        "tasks": count * runs,
        "seconds": seconds,
        "tasks_per_s": count * runs / seconds,
        "gc_seconds": sum(part["gc_seconds"] for part in parts),
        "gc_collections": [
            sum(gen) for gen in zip(*(part["gc_collections"] for part in parts), strict=True)
        ],
        "parts": [part["tasks_per_s"] for part in parts],
    }
