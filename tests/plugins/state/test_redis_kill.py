"""SIGKILL an orchestrator on the redis store mid-run, restart it, and count the runs.

The child resubmits the same idempotency keys after the restart and waits for all of them.
Every key must end bound to exactly one task that succeeded; none may run more than twice,
and the ones that run twice must be exactly those that had started and that the store had
not recorded as finished when the process died: the ones in flight, and (terminal
transitions are written behind) any that finished since the last write. While the child is
still submitting, every submit's commit writes those, so few more than ``CAPACITY`` do."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import redis
from alveary.testing import until

from .conftest import RedisServer

TASKS = 300
CAPACITY = 8
CHILD = """
import asyncio, sys
import alveary
from alveary import AgentSpec, TaskSpec

url, prefix, runs = sys.argv[1:4]
count, capacity = int(sys.argv[4]), int(sys.argv[5])

async def work(task):
    with open(runs, "a") as out:
        out.write(task.payload + "\\n")
    await asyncio.sleep(0.005)
    return task.payload

async def main():
    config = {
        "orchestrator": {"store": "redis", "tick_interval": 0.05},
        "plugins": {"enabled": ["state"],
                    "state": {"url": url, "prefix": prefix, "flush_interval": 0.01}},
    }
    async with alveary.Orchestrator.from_config(config) as orch:
        await orch.register(AgentSpec("a", {"w"}, capacity=capacity, options={"handler": work}))
        handles = []
        for i in range(count):
            key = f"k{i}"
            handle = await orch.submit(TaskSpec("w", key, requires={"w"}, idempotency_key=key))
            print("ack", key, handle.id, flush=True)
            handles.append(handle)
        for handle in handles:
            outcome = await handle.result(timeout=60)
            assert outcome.ok, outcome
        print("all done", flush=True)

asyncio.run(main())
"""


def test_a_killed_orchestrator_runs_each_key_once_or_twice_never_lost(
    redis_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    script, runs = tmp_path / "child.py", tmp_path / "runs.txt"
    script.write_text(CHILD)
    args = [sys.executable, str(script), redis_server.url, prefix, str(runs)]
    args += [str(TASKS), str(CAPACITY)]
    out1 = tmp_path / "first.out"

    def lines() -> list[str]:
        return runs.read_text().split() if runs.exists() else []

    with out1.open("w") as stdout:
        first = subprocess.Popen(args, stdout=stdout, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            asyncio.run(until(lambda: len(lines()) >= TASKS // 3 or first.poll() is not None))
            assert first.poll() is None, f"finished before the kill: {out1.read_text()}"
            os.kill(first.pid, signal.SIGKILL)
        finally:
            first.wait()
    before = Counter(lines())
    acked = out1.read_text().count("ack ")
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    bound = client.hgetall(f"{prefix}:keys")
    states = {
        key: json.loads(client.hget(f"{prefix}:tasks", task_id) or "{}").get("state")
        for key, task_id in bound.items()
    }
    finished_at_kill = {k for k, s in states.items() if s == "succeeded"}

    second = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "all done" in second.stdout

    acks: dict[str, set[str]] = {}
    for text in (out1.read_text(), second.stdout):
        for line in text.splitlines():
            if line.startswith("ack "):
                _, key, task_id = line.split()
                acks.setdefault(key, set()).add(task_id)
    bound = client.hgetall(f"{prefix}:keys")
    keys = [f"k{i}" for i in range(TASKS)]
    for key in keys:
        assert acks[key] == {bound[key]}, f"{key} is bound to {acks[key]} and {bound[key]}"
        data = json.loads(client.hget(f"{prefix}:tasks", bound[key]) or "{}")
        assert data.get("state") == "succeeded", (key, data)
    count = Counter(lines())
    assert set(count) == set(keys), "every key ran"
    assert max(count.values()) <= 2
    twice = {k for k, n in count.items() if n == 2}
    assert twice <= set(before), "only what had started before the kill ran again"
    assert not twice & finished_at_kill, "nothing recorded as finished ran again"
    unfinished_started = {k for k in before if k not in finished_at_kill}
    assert twice == unfinished_started, "what had started, unfinished in the store, reran"
    if acked < TASKS:  # still submitting: the commits write finished tasks every few ms,
        # less than a run takes, so at most one more per slot finished unwritten
        assert len(twice) <= 2 * CAPACITY, (len(twice), acked)
    print(f"acked before the kill: {acked}, started: {len(before)}, ran twice: {len(twice)}")
