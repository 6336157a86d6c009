"""Recovery and footprint of the ``sqlite`` store.

    uv run python benchmarks/recovery.py                 # 100,000 unfinished tasks
    uv run python benchmarks/recovery.py --tasks 10000

1. Recovery: a file holding ``--tasks`` unfinished tasks (written through the store, as a
   crashed orchestrator leaves them); a new orchestrator starts on it with a pool of one local
   agent. Reported: how long ``start()`` takes, and the time from calling it to the first
   re-queued task running.
2. Footprint: ``--finished`` tasks run to completion through an orchestrator; the file's size
   (after a WAL checkpoint) divided by their number.

Numbers only; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from alveary import Event, Orchestrator, Task, TaskSpec, TaskState, hookimpl
from alveary_state import SQLiteStore


async def noop(task: Task) -> Any:
    return None


def config(path: Path, agents: int = 1) -> dict[str, Any]:
    return {
        "orchestrator": {"store": "sqlite", "tick_interval": 0.1},
        "plugins": {"enabled": ["state"], "state": {"path": str(path)}},
        "pools": [
            {
                "name": "workers",
                "size": {"min": agents, "max": agents},
                "capacity": 64,
                "options": {"handler": f"{__name__}:noop"},
            }
        ],
    }


class FirstRun:
    """Notes when the first task starts running."""

    name = "first-run"

    def __init__(self) -> None:
        self.at: float | None = None
        self.seen = asyncio.Event()

    @hookimpl
    def alveary_event(self, event: Event) -> None:
        if self.at is None and event.type == "task.running":
            self.at = time.perf_counter()
            self.seen.set()


async def recovery(path: Path, count: int) -> dict[str, float]:
    store = SQLiteStore(str(path))
    await store.open()
    now = time.time()
    for i in range(count):
        task = Task(f"old-{i}", TaskSpec("work", i), submitted=now)
        task.state = TaskState.QUEUED if i % 2 else TaskState.RUNNING
        store.save_task(task)
    await store.commit()
    await store.close()
    first = FirstRun()
    orch = Orchestrator.from_config(config(path), [first])
    begin = time.perf_counter()
    await orch.start()
    started = time.perf_counter()
    await first.seen.wait()
    assert first.at is not None
    result = {
        "unfinished": count,
        "start_s": started - begin,
        "first_dispatch_s": first.at - begin,
    }
    await orch.stop(timeout=0)
    return result


async def footprint(path: Path, count: int) -> dict[str, float]:
    async with Orchestrator.from_config(config(path, agents=2)) as orch:
        handles = [await orch.submit(TaskSpec("work", {"n": i})) for i in range(count)]
        for handle in handles:
            await handle.result()
    rows, size = await asyncio.to_thread(_measure, path)
    return {"finished": rows, "file_bytes": size, "bytes_per_task": size / rows}


def _measure(path: Path) -> tuple[int, int]:
    """Finished tasks in the file, and its size once the write-ahead log is folded in."""
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (rows,) = db.execute("SELECT count(*) FROM tasks").fetchone()
    return rows, os.path.getsize(path)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="unfinished tasks to recover")
    parser.add_argument("--finished", type=int, default=20_000, help="tasks for the footprint")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"writing {args.tasks:,} unfinished tasks, then starting on them ...", flush=True)
        found = await recovery(Path(folder, "recover.db"), args.tasks)
        print(
            f"recovery of {found['unfinished']:,} unfinished tasks: start() "
            f"{found['start_s']:.2f} s, first re-queued task running after "
            f"{found['first_dispatch_s']:.2f} s"
        )
        print(f"running {args.finished:,} tasks to completion ...", flush=True)
        size = await footprint(Path(folder, "footprint.db"), args.finished)
        print(
            f"footprint: {size['file_bytes'] / 1e6:.1f} MB for {size['finished']:,} finished "
            f"tasks, {size['bytes_per_task']:.0f} bytes per task"
        )


if __name__ == "__main__":
    asyncio.run(main())
