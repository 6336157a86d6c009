"""Remote agents over WebSockets: 1,000 connected to one orchestrator on loopback.

    uv run python benchmarks/remote.py            # 1,000 connections, about a minute
    uv run python benchmarks/remote.py --quick    # 200 connections, about 15 seconds

1. Connections: a separate load process opens N WebSocket connections to the gateway's
   ``/v1/agents/connect``; each says ``hello`` and answers every task with its payload (the
   agent protocol spoken directly, as ``alveary.agent --connect`` speaks it, without a
   process per agent). Measured: the wall time until all N are registered, and the
   orchestrator's resident memory per connection (its RSS with N connected, less before).
2. Protocol overhead per task: sequential round trips (submit -> outcome) on one real
   ``python -m alveary.agent ... --connect`` agent process, against the same on an
   in-process ``local`` agent in the same run; the difference is what the WebSocket,
   the JSON messages and the other process cost.
3. Load: many tasks at once spread over the N connected agents: throughput and latency.

Prints a table and writes ``benchmarks/results/remote.json``. Numbers only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import alveary
from _common import Progress, latency
from alveary import AgentSpec, Orchestrator, TaskSpec
from alveary.testing import until

HERE = Path(__file__).resolve().parent
FULL = {"agents": 1000, "round_trips": 2000, "load": 20_000}
QUICK = {"agents": 200, "round_trips": 300, "load": 3_000}
AGENT = """
from alveary.agent import agent

@agent(capabilities={"real"})
def echo(job):
    return job.payload
"""


def rss() -> int:
    """This process's resident set size, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def local_echo(task: alveary.Task) -> Any:
    return task.payload


async def round_trips(orch: Orchestrator, kind: str, count: int) -> dict[str, Any]:
    samples = []
    for i in range(count):
        began = time.perf_counter_ns()
        outcome = await (await orch.submit(TaskSpec(kind, i, requires={kind}))).result()
        samples.append(time.perf_counter_ns() - began)
        assert outcome.value == i, outcome
    return latency(samples)


async def run(sizes: dict[str, int], say: Progress) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="alveary-remote-"))
    config = {
        "orchestrator": {"shutdown_timeout": 5},
        "plugins": {
            "enabled": ["gateway"],
            "gateway": {"listen": "127.0.0.1:0", "remote": {"log_dir": str(folder / "logs")}},
        },
    }
    results: dict[str, Any] = {}
    async with Orchestrator.from_config(config) as orch:
        await orch.register(AgentSpec("local", {"local"}, options={"handler": local_echo}))
        url = orch.plugins["gateway"].url.replace("http", "ws") + "/v1/agents/connect"
        (folder / "bench_agent.py").write_text(AGENT)
        real = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alveary.agent",
            "bench_agent:echo",
            "--connect",
            url,
            cwd=folder,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await until(lambda: len(orch.agents()) == 2, 60)
        say(f"round trips: {sizes['round_trips']} on a local agent, then on a remote one")
        await round_trips(orch, "local", 50)  # warm up both
        await round_trips(orch, "real", 50)
        results["local"] = await round_trips(orch, "local", sizes["round_trips"])
        results["remote"] = await round_trips(orch, "real", sizes["round_trips"])

        n = sizes["agents"]
        say(f"connecting {n} agents from a load process")
        before = rss()
        began = time.perf_counter()
        peers = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--peers", url, str(n), stdin=asyncio.subprocess.PIPE
        )
        await until(lambda: len(orch.agents()) == n + 2, 600, interval=0.05)
        results["connect_all_s"] = time.perf_counter() - began
        await asyncio.sleep(1.0)  # let the connections settle before reading memory
        results["rss_per_connection_kib"] = (rss() - before) / n / 1024
        say(f"{n} connected in {results['connect_all_s']:.2f} s; load: {sizes['load']} tasks")

        began = time.perf_counter()
        handles = [
            await orch.submit(TaskSpec("peer", i, requires={"peer"})) for i in range(sizes["load"])
        ]
        ends = []
        for handle in handles:
            outcome = await handle.result()
            assert outcome.ok, outcome
            ends.append(time.perf_counter())
        results["load_tasks_per_s"] = sizes["load"] / (time.perf_counter() - began)
        assert peers.stdin is not None
        peers.stdin.close()
        [mine] = [a for a in orch.agents() if "real" in a.spec.capabilities]
        await orch.deregister(mine.id)  # shutdown: the agent exits
    await peers.wait()
    await real.wait()
    results["agents"] = n
    return results


async def serve_peers(url: str, count: int) -> None:
    """The load process: ``count`` protocol peers on one event loop, until stdin closes."""
    from websockets.asyncio.client import connect

    async def peer(i: int) -> None:
        hello = {"type": "hello", "protocol": 1, "name": f"peer-{i}", "capabilities": ["peer"]}
        async with connect(url, max_size=None, open_timeout=60) as socket:
            await socket.send(json.dumps(hello))
            async for frame in socket:
                message = json.loads(frame)
                if message["type"] == "task":
                    answer = {"type": "result", "id": message["id"], "value": message["payload"]}
                    await socket.send(json.dumps(answer))
                elif message["type"] == "shutdown":
                    return

    tasks = []
    for i in range(count):
        tasks.append(asyncio.ensure_future(peer(i)))
        if i % 50 == 49:
            await asyncio.sleep(0.01)  # do not flood the listen backlog
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 connections, fewer tasks")
    parser.add_argument("--peers", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peers:
        asyncio.run(serve_peers(args.peers[0], int(args.peers[1])))
        return
    say = Progress()
    results = asyncio.run(run(QUICK if args.quick else FULL, say))
    local, remote = results["local"], results["remote"]
    extra = {q: remote[f"{q}_us"] - local[f"{q}_us"] for q in ("p50", "p99")}
    rows = [
        ("agents connected", f"{results['agents']}"),
        ("time to connect all", f"{results['connect_all_s']:.2f} s"),
        ("orchestrator RSS per connection", f"{results['rss_per_connection_kib']:.0f} KiB"),
        ("round trip, local agent p50/p99", f"{local['p50_us']:.0f} / {local['p99_us']:.0f} µs"),
        ("round trip, remote agent p50/p99", f"{remote['p50_us']:.0f} / {remote['p99_us']:.0f} µs"),
        ("protocol overhead p50/p99", f"{extra['p50']:.0f} / {extra['p99']:.0f} µs"),
        (f"load over {results['agents']} agents", f"{results['load_tasks_per_s']:,.0f} tasks/s"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    out = HERE / "results" / "remote.json"
    out.parent.mkdir(exist_ok=True)
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
