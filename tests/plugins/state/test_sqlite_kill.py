"""SIGKILL an orchestrator on the sqlite store mid-run, restart it, resubmit the same keys:
every task ends ``succeeded`` exactly once as a task; the ones that ran twice are at most
those in flight at the kill; none never ran."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from alveary.testing import until

TASKS = 300
CAPACITY = 4

SCRIPT = """\
import asyncio, os, sys, time
from alveary import AgentSpec, Orchestrator, TaskSpec

DB, RUNS, PHASE = sys.argv[1], sys.argv[2], sys.argv[3]
TASKS, CAPACITY = int(sys.argv[4]), int(sys.argv[5])

async def work(task):
    with open(RUNS, "a") as runs:  # one line per run, appended whole
        runs.write(f"start {task.spec.idempotency_key}\\n")
    await asyncio.sleep(0.005)
    with open(RUNS, "a") as runs:
        runs.write(f"done {task.spec.idempotency_key}\\n")
    return task.spec.idempotency_key

async def main():
    config = {
        "orchestrator": {"store": "sqlite", "tick_interval": 0.05},
        "plugins": {"enabled": ["state"], "state": {"path": DB}},
    }
    async with Orchestrator.from_config(config) as orch:
        await orch.register(AgentSpec("worker", capacity=CAPACITY, options={"handler": work}))
        handles = []
        for i in range(TASKS):
            handles.append(await orch.submit(TaskSpec("work", i, idempotency_key=f"key-{i}")))
            print(f"acked key-{i}", flush=True)
        if PHASE == "second":
            outcomes = [await h.result(timeout=120) for h in handles]
            states = sorted({o.state.value for o in outcomes})
            print("ids", " ".join(h.id for h in handles), flush=True)
            print("states", " ".join(states), flush=True)
        else:
            await asyncio.Event().wait()  # killed before this returns

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_orchestrator_loses_nothing_and_runs_nothing_twice_but_in_flight(
    tmp_path: Path,
) -> None:
    script = tmp_path / "orchestrate.py"
    script.write_text(textwrap.dedent(SCRIPT))
    db, runs = tmp_path / "alveary.db", tmp_path / "runs.log"
    runs.touch()

    def start(phase: str) -> subprocess.Popen[str]:
        argv = [sys.executable, str(script), str(db), str(runs), phase, str(TASKS), str(CAPACITY)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = start("first")
    watchdog = threading.Timer(120, first.kill)
    watchdog.start()
    try:
        assert first.stdout is not None
        acked = 0
        for line in first.stdout:  # kill it mid-run: some acked, some ran, some running
            acked += line.startswith("acked")
            if acked == TASKS // 2:
                break
        until_sync(lambda: runs.read_text().count("done") >= TASKS // 4)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL
    before = runs.read_text().splitlines()
    started_before = {line.split()[1] for line in before if line.startswith("start")}
    with (
        closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as file,
        file,
    ):  # what the crash left
        recorded = {
            json.loads(data)["spec"]["idempotency_key"]
            for (data,) in file.execute("SELECT data FROM tasks WHERE state = 'succeeded'")
        }
    in_flight = started_before - recorded  # running, or finished but not yet written
    assert recorded <= started_before

    second = start("second")
    out, err = second.communicate(timeout=180)
    assert second.returncode == 0, err
    lines = dict(line.split(" ", 1) for line in out.splitlines() if not line.startswith("acked"))
    assert lines["states"] == "succeeded", lines
    ids = lines["ids"].split()
    assert len(ids) == len(set(ids)) == TASKS, "one task per idempotency key"

    runs_by_key = collections.Counter(
        line.split()[1] for line in runs.read_text().splitlines() if line.startswith("start")
    )
    assert set(runs_by_key) == {f"key-{i}" for i in range(TASKS)}, "every key ran"
    twice = {key for key, n in runs_by_key.items() if n > 1}
    assert all(n <= 2 for n in runs_by_key.values()), runs_by_key.most_common(3)
    assert twice <= in_flight, "only work whose result was not yet written runs again"


def until_sync(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    asyncio.run(until(predicate, timeout=timeout))
