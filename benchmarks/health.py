"""What the health plugin costs, and whether its caps hold with 10,000 agents.

    uv run python benchmarks/health.py            # about 30 seconds
    uv run python benchmarks/health.py --quick    # about 10 seconds

1. Heartbeat handling per agent: ``orch.heartbeat(agent, load=...)`` (the kernel records it)
   and the plugin's judgement of one agent's heartbeat (run from ``alveary_tick``).
2. The per-attempt cost the plugin adds (``alveary_task_before``/``after``: breaker, error rate).
3. The caps, held for a while on a real orchestrator with 10,000 agents whose runtime answers
   ``alveary_health_check``: checks per second (``max_checks``) and heartbeats per second when
   every agent heartbeats at the interval the plugin publishes (``max_heartbeats``). The kernel's
   own sweep would check every agent every ``health_interval`` (5 s): 2,000 checks/s.

Prints a table and writes ``benchmarks/results/health.json``. Numbers only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import alveary  # noqa: E402
from _common import Progress, latency  # noqa: E402
from alveary import AgentSpec, HealthReport, HealthStatus, Outcome, TaskSpec, TaskState  # noqa: E402
from alveary_health import Health  # noqa: E402


class Checked:
    """A runtime of in-process agents that answers ``alveary_health_check`` and counts the
    checks per wall-clock second."""

    name = "checked"

    def __init__(self) -> None:
        self.per_second: Counter[int] = Counter()

    @alveary.hookimpl
    def alveary_runtimes(self) -> dict[str, Checked]:
        return {"checked": self}

    async def start(self, agent: alveary.Agent) -> None:
        pass

    async def execute(self, agent: alveary.Agent, task: alveary.Task) -> Any:
        return task.payload

    async def stop(self, agent: alveary.Agent) -> None:
        pass

    @alveary.hookimpl
    def alveary_health_check(self, agent: alveary.Agent) -> HealthReport:
        self.per_second[int(time.monotonic())] += 1
        return HealthReport(HealthStatus.HEALTHY, "running")


def config(**health: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"tick_interval": 0.1, "hook_timeout": 1.0},
        "plugins": {"enabled": ["health"], "health": health},
    }


async def heartbeat_costs(agents: int, rounds: int) -> dict[str, Any]:
    """Per-agent cost of recording a heartbeat and of judging it, at ``agents`` agents."""
    runtime = Checked()
    async with alveary.Orchestrator.from_config(
        config(heartbeat_interval=1.0, max_heartbeats=1e9), [runtime]
    ) as orch:
        ids = [
            (await orch.register(AgentSpec(f"a{i}", {"w"}, runtime="checked"))).id
            for i in range(agents)
        ]
        plugin = orch.plugins["health"]
        assert isinstance(plugin, Health)
        record = []
        for _ in range(rounds):
            start = time.perf_counter_ns()
            for agent_id in ids:
                orch.heartbeat(agent_id, load=0.5)
            record.append((time.perf_counter_ns() - start) // agents)
        judge = []
        now = time.time()
        for _ in range(rounds):  # each simulated tick is one interval later: every agent is due
            now += 1.0
            start = time.perf_counter_ns()
            plugin.alveary_tick(now)
            judge.append((time.perf_counter_ns() - start) // agents)
        for future in list(plugin._background):  # the checks the ticks started
            await future
    return {"agents": agents, "record": latency(record), "judge": latency(judge)}


async def attempt_cost(tasks: int) -> dict[str, Any]:
    """Per-attempt cost of the plugin's task hooks, measured around the hook calls."""
    async with alveary.Orchestrator.from_config(config()) as orch:

        async def echo(task: alveary.Task) -> Any:
            return task.payload

        agent = await orch.register(AgentSpec("a", {"w"}, options={"handler": echo}))
        plugin = orch.plugins["health"]
        assert isinstance(plugin, Health)
        handle = await orch.submit(TaskSpec("t", requires={"w"}))
        await handle.result()
        task = handle.task
        ok = Outcome(TaskState.SUCCEEDED, None, None, agent.id, 1)
        samples = []
        for _ in range(tasks):
            start = time.perf_counter_ns()
            plugin.alveary_task_before(task, agent)
            plugin.alveary_task_after(task, agent, ok)
            samples.append(time.perf_counter_ns() - start)
    return latency(samples)


async def caps(
    agents: int, seconds: float, max_checks: float, max_heartbeats: float
) -> dict[str, Any]:
    """Run ``seconds`` with ``agents`` agents that heartbeat at the published interval."""
    runtime = Checked()
    settings = config(max_checks=max_checks, max_heartbeats=max_heartbeats, check_interval=1.0)
    settings["orchestrator"]["health_interval"] = 5.0
    async with alveary.Orchestrator.from_config(settings, [runtime]) as orch:
        ids = [
            (await orch.register(AgentSpec(f"a{i}", {"w"}, runtime="checked"))).id
            for i in range(agents)
        ]
        plugin = orch.plugins["health"]
        assert isinstance(plugin, Health)
        beats: Counter[int] = Counter()
        interval = plugin.heartbeat_interval
        # agents heartbeat at the interval they are told, spread evenly over it
        spread = {agent_id: i * interval / agents for i, agent_id in enumerate(ids)}
        begin = time.monotonic()
        sent = dict.fromkeys(ids, -1)
        runtime.per_second.clear()
        while (elapsed := time.monotonic() - begin) < seconds:
            for agent_id in ids:
                due = int((elapsed - spread[agent_id]) // interval)
                if due > sent[agent_id]:
                    sent[agent_id] = due
                    orch.heartbeat(agent_id)
                    beats[int(time.monotonic())] += 1
            await asyncio.sleep(0.05)
        checks = [n for second, n in sorted(runtime.per_second.items())][1:-1]
        heartbeats = [n for second, n in sorted(beats.items())][1:-1]
        unhealthy = sum(a.health is not HealthStatus.HEALTHY for a in orch.agents())
        check_interval = plugin.check_interval
    return {
        "agents": agents,
        "seconds": seconds,
        "max_checks": max_checks,
        "check_interval": check_interval,
        "checks_per_s_max": max(checks, default=0),
        "checks_per_s_mean": sum(checks) / len(checks) if checks else 0.0,
        "kernel_sweep_checks_per_s": agents / 5.0,
        "max_heartbeats": max_heartbeats,
        "heartbeat_interval": interval,
        "heartbeats_per_s_max": max(heartbeats, default=0),
        "heartbeats_per_s_mean": sum(heartbeats) / len(heartbeats) if heartbeats else 0.0,
        "not_healthy": unhealthy,
    }


def render(results: dict[str, Any]) -> str:
    rows = [("measure", "value")]
    for size in results["heartbeats"]:
        rows.append(
            (
                f"record a heartbeat, {size['agents']:,} agents (p50 / p99 per agent)",
                f"{size['record']['p50_us']:.2f} / {size['record']['p99_us']:.2f} us",
            )
        )
        rows.append(
            (
                f"judge a heartbeat, {size['agents']:,} agents (p50 / p99 per agent)",
                f"{size['judge']['p50_us']:.2f} / {size['judge']['p99_us']:.2f} us",
            )
        )
    attempt = results["attempt"]
    rows.append(
        (
            "task hooks per attempt (p50 / p99)",
            f"{attempt['p50_us']:.2f} / {attempt['p99_us']:.2f} us",
        )
    )
    cap = results["caps"]
    rows += [
        (
            f"checks/s at {cap['agents']:,} agents, cap {cap['max_checks']:g} (max / mean)",
            f"{cap['checks_per_s_max']} / {cap['checks_per_s_mean']:.0f}",
        ),
        ("check interval per agent", f"{cap['check_interval']:g} s"),
        (
            "checks/s of the kernel's own sweep (every agent every 5 s)",
            f"{cap['kernel_sweep_checks_per_s']:.0f}",
        ),
        (
            f"heartbeats/s at {cap['agents']:,} agents, cap {cap['max_heartbeats']:g} (max / mean)",
            f"{cap['heartbeats_per_s_max']} / {cap['heartbeats_per_s_mean']:.0f}",
        ),
        ("published heartbeat interval", f"{cap['heartbeat_interval']:g} s"),
        ("agents not healthy at the end", str(cap["not_healthy"])),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"| {a.ljust(width)} | {b} |" for a, b in rows]
    lines.insert(1, f"|{'-' * (width + 2)}|---|")
    return "\n".join(lines)


async def main_async(quick: bool) -> dict[str, Any]:
    say = Progress()
    sizes = [50, 1_000, 10_000]
    results: dict[str, Any] = {"heartbeats": []}
    for size in sizes:
        say(f"heartbeat costs at {size:,} agents")
        results["heartbeats"].append(await heartbeat_costs(size, 5 if quick else 20))
    say("task hook cost")
    results["attempt"] = await attempt_cost(2_000 if quick else 20_000)
    seconds = 5.0 if quick else 20.0
    say(f"caps at 10,000 agents for {seconds:g} s")
    results["caps"] = await caps(10_000, seconds, max_checks=100.0, max_heartbeats=200.0)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "health.json")
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args.quick))
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
