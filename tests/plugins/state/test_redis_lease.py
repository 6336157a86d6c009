"""Two orchestrators on one Redis prefix: one leads, the other stands by, refusing work with
the leader's name, and takes over when the leader stops, dies or loses its lease."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from alveary import AgentSpec, Orchestrator, StandingBy, StoreError, Task, TaskSpec
from alveary.testing import until

from .conftest import RedisServer

LEASE = 1.0
ME = f"{socket.gethostname()}:{os.getpid()}"


def config(server: RedisServer, prefix: str, lease: float = LEASE) -> dict[str, Any]:
    state = {"url": server.url, "prefix": prefix, "lease": lease, "flush_interval": 0.01}
    return {
        "orchestrator": {"store": "redis", "tick_interval": 0.05, "retry_base": 0.0},
        "plugins": {"enabled": ["state"], "state": state},
    }


async def double(task: Task) -> Any:
    return task.payload * 2


async def test_the_standby_refuses_work_naming_the_leader_and_takes_over(
    redis_server: RedisServer, prefix: str
) -> None:
    leader = Orchestrator.from_config(config(redis_server, prefix))
    await leader.start()
    queued = [await leader.submit(TaskSpec("double", n)) for n in range(10)]  # no agent yet
    standby = Orchestrator.from_config(config(redis_server, prefix))
    starting = asyncio.ensure_future(standby.start())
    await until(lambda: standby.standby is not None, timeout=30)
    assert standby.standby == ME
    with pytest.raises(StandingBy, match=f"standing by: {ME} leads this store"):
        await standby.submit(TaskSpec("double", 1))
    await leader.stop()  # frees the lease at once
    await asyncio.wait_for(starting, timeout=30)
    assert standby.standby is None
    await standby.register(AgentSpec("doubler", options={"handler": double}))
    values = [(await standby.task(h.id).result(timeout=30)).value for h in queued]
    assert values == [n * 2 for n in range(10)]
    await standby.stop()


async def test_a_leader_whose_lease_is_taken_stops_itself_and_writes_nothing_more(
    redis_server: RedisServer, prefix: str
) -> None:
    orch = Orchestrator.from_config(config(redis_server, prefix))
    await orch.start()
    before = await orch.submit(TaskSpec("double", 1))  # queued: no agent
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        client.set(f"{prefix}:lease", "elsewhere:99:abcd", px=60_000)  # another leader now
        with pytest.raises(StoreError, match="lease passed to elsewhere:99"):
            await orch.submit(TaskSpec("double", 2))  # not acknowledged: it was not written
        await asyncio.wait_for(orch.stopped.wait(), timeout=30)
        assert orch.lost_lease == "the store's lease passed to elsewhere:99"
        assert client.hkeys(f"{prefix}:tasks") == [before.id]
    finally:
        client.close()


async def test_a_store_without_a_lease_does_not_wait(
    redis_server: RedisServer, prefix: str
) -> None:
    async with (
        Orchestrator.from_config(config(redis_server, prefix, lease=0)) as first,
        Orchestrator.from_config(config(redis_server, prefix, lease=0)) as second,
    ):
        assert first.standby is None
        assert second.standby is None


CHILD = """
import asyncio, sys, time
import alveary
from alveary import AgentSpec, TaskSpec

url, prefix, runs, role = sys.argv[1:5]
count = int(sys.argv[5])

async def work(task):
    with open(runs, "a") as out:
        out.write(task.payload + "\\n")
    await asyncio.sleep(0.05)
    return task.payload

async def main():
    state = {"url": url, "prefix": prefix, "lease": %(lease)s, "flush_interval": 0.01}
    config = {
        "orchestrator": {"store": "redis", "tick_interval": 0.05},
        "plugins": {"enabled": ["state"], "state": state},
    }
    orch = alveary.Orchestrator.from_config(config)
    starting = asyncio.ensure_future(orch.start())
    while not starting.done():
        if orch.standby is not None:
            print("standby", orch.standby, flush=True)
            break
        await asyncio.sleep(0.01)
    await starting
    print("leading", time.time(), flush=True)
    await orch.register(AgentSpec("a", {"w"}, capacity=4, options={"handler": work}))
    handles = []
    for i in range(count):
        key = f"k{i}"
        handles.append(await orch.submit(TaskSpec("w", key, requires={"w"}, idempotency_key=key)))
        if role == "leader":
            print("ack", key, flush=True)
    for handle in handles:
        assert (await handle.result(timeout=120)).ok
    print("all done", flush=True)
    if role == "leader":
        await asyncio.Event().wait()  # hold the lease until killed
    await orch.stop()

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_leader_is_replaced_by_the_standby_and_nothing_is_lost(
    redis_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    script = tmp_path / "replica.py"
    script.write_text(textwrap.dedent(CHILD % {"lease": LEASE}))
    runs = tmp_path / "runs.log"
    runs.touch()

    def replica(role: str) -> subprocess.Popen[str]:
        argv = [sys.executable, str(script), redis_server.url, prefix, str(runs), role, "200"]
        with (tmp_path / f"{role}.err").open("w") as errors:  # stdout is read line by line
            return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True)

    leader = replica("leader")
    standby: subprocess.Popen[str] | None = None
    try:
        assert leader.stdout is not None
        acked = 0
        for line in leader.stdout:
            acked += line.startswith("ack")
            if acked == 100:
                break
        standby = replica("standby")
        assert standby.stdout is not None
        while not standby.stdout.readline().startswith("standby "):  # its log lines first
            assert standby.poll() is None, (tmp_path / "standby.err").read_text()
        asyncio.run(until(lambda: len(runs.read_text().splitlines()) >= 30, timeout=60))
        os.kill(leader.pid, signal.SIGKILL)
        killed = time.time()
        leader.wait(timeout=60)
        out = "standby\n" + standby.stdout.read()  # to the end: the process exits
        standby.wait(timeout=180)
        err = (tmp_path / "standby.err").read_text()
    finally:
        for process in (leader, standby):
            if process is not None:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                if process.stdout is not None:
                    process.stdout.close()
    assert standby.returncode == 0, err[-3000:]
    assert out.splitlines()[-1] == "all done"
    took_over = float(
        next(line for line in out.splitlines() if line.startswith("leading")).split()[1]
    )
    print(f"the standby led {took_over - killed:.2f} s after the kill (lease {LEASE:g} s)")
    assert took_over > killed
    ran = Counter(runs.read_text().split())
    assert set(ran) == {f"k{i}" for i in range(200)}, "every key ran"
    assert max(ran.values()) <= 2, ran.most_common(3)


def test_alveary_run_says_it_stands_by_and_takes_over(
    redis_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    toml = tmp_path / "alveary.toml"
    toml.write_text(
        textwrap.dedent(f"""\
        [orchestrator]
        store = "redis"

        [plugins]
        enabled = ["state"]

        [plugins.state]
        url = "{redis_server.url}"
        prefix = "{prefix}"
        lease = {LEASE}
        """)
    )
    alveary = [sys.executable, "-m", "alveary", "run", "--config", str(toml)]

    def run() -> subprocess.Popen[str]:
        return subprocess.Popen(alveary, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def until_line(process: subprocess.Popen[str], start: str) -> list[str]:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            if line.startswith(start):
                return seen
        raise AssertionError(f"no line starting {start!r}: {seen}")

    first = run()
    second: subprocess.Popen[str] | None = None
    try:
        until_line(first, "alveary: running")
        second = run()
        line = until_line(second, "alveary: standing by")[-1]
        assert line.startswith(f"alveary: standing by: {socket.gethostname()}:{first.pid} leads")
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
        until_line(second, "alveary: running")
        second.send_signal(signal.SIGINT)
        _, rest = second.communicate(timeout=60)
        assert second.returncode == 0, rest
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
    assert first.returncode == 0
