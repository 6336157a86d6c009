"""200 concurrent protocol agents as real processes: start-up per agent, per-task overhead.

    uv run python benchmarks/protocol_agents.py            # about a minute on 2 cores
    uv run python benchmarks/protocol_agents.py --quick    # 50 agents, about 15 seconds

1. Start-up: a pool of N agents written with ``alveary.agent`` (Python) is started; per agent,
   the time from spawning its process to its ``hello`` (the ``protocol.hello`` event), the
   wall time until all N are ready, and the resident memory per agent process. The same for
   the 30-line POSIX shell agent of ``examples/``. With ``max_starting`` at its default (four
   per CPU) and, in the full run, with every agent starting at once.
2. Per-task overhead over the protocol: sequential round trips (submit -> outcome) of an echo
   task on one Python agent, against the same on an in-process ``local`` agent in the same
   run; the difference is what the protocol (JSON lines over pipes, another process) costs.
   Then the same spread over the N agents, where each task wakes an agent that was idle.
3. Load: many echo tasks at once spread over the N agents: throughput and latency.
4. The same agents under the ``tmux`` runtime (if tmux is installed), 20 of each kind: start-up
   per agent, round trips over the FIFOs, and the time from killing a session from outside to
   its replacement being ready.

Prints a table and writes ``benchmarks/results/subprocess.json``. Numbers only, never
pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import alveary
from _common import Progress, latency
from alveary import TaskSpec
from alveary.testing import EventRecorder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHELL_AGENT = ROOT / "examples" / "protocol-agent.sh"
PYTHON_AGENT = """
from alveary.agent import agent

@agent(capabilities=["echo", "py"], version="bench")
async def echo(job):
    return job.payload

if __name__ == "__main__":
    echo.run()
"""

FULL = {"agents": 200, "round_trips": 2_000, "load": 20_000, "all_at_once": True}
QUICK = {"agents": 50, "round_trips": 500, "load": 5_000, "all_at_once": False}


def config(log_dir: str, pools: list[dict[str, Any]], **plugin: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"tick_interval": 1.0, "retry_base": 0.0, "shutdown_timeout": 30.0},
        "plugins": {"enabled": ["subprocess"], "subprocess": {"log_dir": log_dir, **plugin}},
        "pools": pools,
    }


def pool(name: str, size: int, command: list[str], **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "runtime": "subprocess",
        "size": {"min": size, "max": size},
        "capabilities": ["echo"],
        "options": {"command": command, "heartbeat": 0, **options},
    }


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def start_up(
    name: str, command: list[str], agents: int, log_dir: str, **plugin: Any
) -> tuple[dict[str, Any], alveary.Orchestrator, EventRecorder]:
    """Start a pool of ``agents``; return the numbers and the running orchestrator."""
    recorder = EventRecorder()
    cfg = config(log_dir, [pool(name, agents, command, start_timeout=120)], **plugin)
    orch = alveary.Orchestrator.from_config(cfg, [recorder])
    began = time.perf_counter()
    await orch.start()
    wall = time.perf_counter() - began
    hellos = [e.data["seconds"] * 1e9 for e in recorder.events if e.type == "protocol.hello"]
    runtime = orch.plugins["subprocess"].runtime
    memory = [rss_kib(pid) for a in orch.agents() if (pid := runtime.pid(a)) is not None]
    result = {
        "agents": len(orch.agents()),
        "wall_s": wall,
        "agents_per_s": len(orch.agents()) / wall,
        "spawn_to_hello": latency([int(h) for h in hellos]),
        "rss_kib_per_agent": sum(memory) / len(memory) if memory else None,
    }
    return result, orch, recorder


async def round_trips(orch: alveary.Orchestrator, n: int) -> list[int]:
    samples = []
    for i in range(n):
        began = time.perf_counter_ns()
        handle = await orch.submit(TaskSpec("echo", {"i": i}, requires={"echo"}))
        outcome = await handle.result()
        samples.append(time.perf_counter_ns() - began)
        assert outcome.ok, outcome
    return samples


async def under_load(orch: alveary.Orchestrator, n: int) -> dict[str, Any]:
    began = time.perf_counter()
    submitted: list[tuple[int, alveary.TaskHandle]] = []
    for i in range(n):
        submitted.append((time.perf_counter_ns(), await orch.submit(TaskSpec("echo", i))))
    done: list[int] = []

    async def wait(start: int, handle: alveary.TaskHandle) -> None:
        outcome = await handle.result()
        assert outcome.ok, outcome
        done.append(time.perf_counter_ns() - start)

    await asyncio.gather(*(wait(start, handle) for start, handle in submitted))
    wall = time.perf_counter() - began
    return {"tasks": n, "wall_s": wall, "tasks_per_s": n / wall, "latency": latency(done)}


async def local_round_trips(n: int) -> list[int]:
    async def echo(task: alveary.Task) -> Any:
        return task.payload

    cfg = {"orchestrator": {"tick_interval": 1.0}}
    async with alveary.Orchestrator.from_config(cfg) as orch:
        await orch.register(alveary.AgentSpec("local", {"echo"}, options={"handler": echo}))
        await round_trips(orch, n // 10)  # warm-up
        return await round_trips(orch, n)


async def tmux_run(python: list[str], shell: list[str], tmp: str, n: int) -> dict[str, Any]:
    """Agents in tmux sessions: start-up, round trips, a killed session replaced."""
    socket = f"alveary-bench-{os.getpid()}"
    recorder = EventRecorder()
    pools = [
        {**pool("sh", n, shell), "runtime": "tmux"},
        {**pool("py", n, python), "runtime": "tmux", "capabilities": ["py"]},
    ]
    cfg = {
        "orchestrator": {"tick_interval": 0.05, "restart_base": 0.0},
        "plugins": {"enabled": ["tmux"], "tmux": {"log_dir": tmp, "socket": socket}},
        "pools": pools,
    }
    orch = alveary.Orchestrator.from_config(cfg, [recorder])
    began = time.perf_counter()
    await orch.start()
    wall = time.perf_counter() - began
    result: dict[str, Any] = {"agents": len(orch.agents()), "wall_s": wall}
    for name in ("sh", "py"):
        ids = {a.id for a in orch.agents() if a.pool == name}
        hellos = [
            int(e.data["seconds"] * 1e9)
            for e in recorder.events
            if e.type == "protocol.hello" and e.agent_id in ids
        ]
        result[f"{name}_spawn_to_hello"] = latency(hellos)
    result["sh_round_trip"] = latency(await round_trips(orch, 1_000))
    replaced = []
    for _ in range(5):
        victim = sorted(a.name for a in orch.agents() if a.pool == "sh")[0]
        began = time.perf_counter()
        killer = await asyncio.create_subprocess_exec(
            "tmux", "-L", socket, "kill-session", "-t", f"={victim}"
        )
        await killer.wait()
        while True:
            agents = [a for a in orch.agents() if a.pool == "sh"]
            names = {a.name for a in agents}
            if (
                victim not in names
                and len(agents) == n
                and all(a.state.value == "ready" for a in agents)
            ):
                break
            await asyncio.sleep(0.002)
        replaced.append(int((time.perf_counter() - began) * 1e9))
    result["kill_to_replacement"] = latency(replaced)
    began = time.perf_counter()
    await orch.stop()
    result["stop_wall_s"] = time.perf_counter() - began
    return result  # the plugin removed its server and socket at shutdown


async def main(settings: dict[str, Any], progress: Progress) -> dict[str, Any]:
    agents = settings["agents"]
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": settings,
    }
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "echo_agent.py"
        script.write_text(PYTHON_AGENT)
        python = [sys.executable, str(script)]
        shell = ["sh", str(SHELL_AGENT)]

        progress(f"starting {agents} shell agents")
        shell_start, orch, _ = await start_up("sh", shell, agents, tmp)
        shell_trips = await round_trips(orch, settings["round_trips"])
        await orch.stop()
        results["shell"] = {"start": shell_start, "round_trip": latency(shell_trips)}

        if settings["all_at_once"]:
            progress(f"starting {agents} Python agents all at once (max_starting={agents})")
            burst, orch, _ = await start_up("burst", python, agents, tmp, max_starting=agents)
            await orch.stop()
            results["python_all_at_once"] = {"start": burst}

        progress(f"starting {agents} Python agents, paced (max_starting default)")
        python_start, orch, _ = await start_up("py", python, agents, tmp)
        progress(f"{settings['round_trips']} sequential round trips over the protocol")
        await round_trips(orch, settings["round_trips"] // 10)  # warm-up
        python_trips = await round_trips(orch, settings["round_trips"])
        progress(f"{settings['load']} tasks at once over {agents} agents")
        load = await under_load(orch, settings["load"])
        progress("stopping")
        stopping = time.perf_counter()
        await orch.stop()
        stop_wall = time.perf_counter() - stopping
        progress("round trips on one Python agent, then on one in-process local agent")
        _, orch, _ = await start_up("one", python, 1, tmp)
        await round_trips(orch, settings["round_trips"] // 10)
        one_trips = await round_trips(orch, settings["round_trips"])
        await orch.stop()
        local = await local_round_trips(settings["round_trips"])
        if shutil.which("tmux"):
            progress("tmux: 20 shell and 20 Python agents in sessions")
            results["tmux"] = await tmux_run(python, shell, tmp, 20)

    one, base = latency(one_trips), latency(local)
    results["python"] = {
        "start": python_start,
        "round_trip": latency(python_trips),
        "load": load,
        "stop_wall_s": stop_wall,
    }
    results["python_one_agent"] = {"round_trip": one}
    results["local"] = {"round_trip": base}
    results["protocol_overhead_us"] = {
        "p50": one["p50_us"] - base["p50_us"],
        "p99": one["p99_us"] - base["p99_us"],
    }
    return results


def render(results: dict[str, Any]) -> str:
    rows = [("", "value")]

    def start_rows(label: str, start: dict[str, Any]) -> None:
        hello = start["spawn_to_hello"]
        rows.append((f"{label}: agents ready", f"{start['agents']} in {start['wall_s']:.2f} s"))
        rows.append((f"{label}: agents started per second", f"{start['agents_per_s']:.0f}"))
        rows.append(
            (
                f"{label}: spawn -> hello per agent p50 / p99",
                f"{hello['p50_us'] / 1000:.1f} / {hello['p99_us'] / 1000:.1f} ms",
            )
        )
        if start["rss_kib_per_agent"]:
            rows.append(
                (f"{label}: memory per agent (RSS)", f"{start['rss_kib_per_agent'] / 1024:.1f} MiB")
            )

    start_rows("python, paced", results["python"]["start"])
    if "python_all_at_once" in results:
        start_rows("python, all at once", results["python_all_at_once"]["start"])
    start_rows("shell", results["shell"]["start"])
    pairs = (
        ("one python agent", "python_one_agent"),
        ("local (in-process)", "local"),
        (f"spread over {results['settings']['agents']} python agents", "python"),
        (f"spread over {results['settings']['agents']} shell agents", "shell"),
    )
    for label, key in pairs:
        trip = results[key]["round_trip"]
        rows.append(
            (
                f"round trip, {label}: p50 / p99",
                f"{trip['p50_us']:.0f} / {trip['p99_us']:.0f} us",
            )
        )
    over = results["protocol_overhead_us"]
    rows.append(
        ("protocol overhead per task: p50 / p99", f"{over['p50']:.0f} / {over['p99']:.0f} us")
    )
    load = results["python"]["load"]
    rows.append(
        (
            f"load: {load['tasks']} tasks over the agents",
            f"{load['tasks_per_s']:.0f} tasks/s, p50 {load['latency']['p50_us'] / 1000:.0f} ms, "
            f"p99 {load['latency']['p99_us'] / 1000:.0f} ms",
        )
    )
    rows.append(("stopping every agent", f"{results['python']['stop_wall_s']:.2f} s"))
    if "tmux" in results:
        tmux = results["tmux"]
        rows.append(("tmux: agents ready", f"{tmux['agents']} in {tmux['wall_s']:.2f} s"))
        for name, label in (("sh", "shell"), ("py", "python")):
            hello = tmux[f"{name}_spawn_to_hello"]
            rows.append(
                (
                    f"tmux: {label} agent start -> hello p50 / p99",
                    f"{hello['p50_us'] / 1000:.1f} / {hello['p99_us'] / 1000:.1f} ms",
                )
            )
        trip, kill = tmux["sh_round_trip"], tmux["kill_to_replacement"]
        rows.append(
            ("tmux: round trip, shell agents", f"{trip['p50_us']:.0f} / {trip['p99_us']:.0f} us")
        )
        rows.append(
            (
                "tmux: session killed -> replacement ready",
                f"{kill['p50_us'] / 1000:.0f} / {kill['max_us'] / 1000:.0f} ms (p50 / max)",
            )
        )
        rows.append(("tmux: stopping every agent", f"{tmux['stop_wall_s']:.2f} s"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 agents, fewer tasks")
    parser.add_argument(
        "--output", default=str(HERE / "results" / "subprocess.json"), help="JSON file to write"
    )
    args = parser.parse_args()
    chosen = QUICK if args.quick else FULL
    found = asyncio.run(main(chosen, Progress()))
    print(render(found))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(found, indent=2))
    print(f"\nwrote {args.output}", file=sys.stderr)
