"""Benchmark alveary-balancer and alveary-context: distribution quality, bounded-load hashing,
expertise convergence and the cost of a routing decision.

    uv run python benchmarks/balancer.py           # the full run (a few minutes)
    uv run python benchmarks/balancer.py --quick   # smaller fleets and fewer tasks

Simulations run the real orchestrator with the real plugins on an event loop whose clock jumps
to the next timer (``VirtualClock``): a task "runs" for its simulated duration with
``asyncio.sleep`` and costs no wall-clock time, so 100,000 tasks with durations of seconds run
in seconds. Prints tables and writes ``benchmarks/results/balancer.json``. Reports numbers; it
never fails on a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import platform
import random
import selectors
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import alveary
from _common import Progress, latency
from alveary import AgentSpec, Orchestrator, Task, TaskSpec
from alveary_balancer import Balancer, BoundedHash, BoundedLoadRing
from alveary_context import Context

HERE = Path(__file__).resolve().parent
T = TypeVar("T")

FULL = {
    "agents": 1_000,
    "tasks": 100_000,
    "hash_agents": 100,
    "hash_keys": 10_000,
    "hash_tasks": 60_000,
    "seeds": 5,
    "sizes": [50, 10_000],
    "decisions": 20_000,
}
QUICK = {
    "agents": 200,
    "tasks": 20_000,
    "hash_agents": 100,
    "hash_keys": 10_000,
    "hash_tasks": 20_000,
    "seeds": 2,
    "sizes": [50, 2_000],
    "decisions": 5_000,
}


# -- a clock that jumps ------------------------------------------------------------------------


class _JumpingSelector:
    """Wraps the loop's selector: when nothing is ready and the loop would wait for a timer,
    advance the clock by the wait instead of sleeping."""

    def __init__(self, real: selectors.BaseSelector, loop: VirtualClock) -> None:
        self._real = real
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = self._real.select(0)
        if not events and timeout is not None and timeout > 0:
            self._loop.now += timeout
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class VirtualClock(asyncio.SelectorEventLoop):
    """An event loop on simulated time: ``loop.time()`` starts at 0 and jumps to each timer."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self._selector = _JumpingSelector(self._selector, self)  # type: ignore[has-type]

    def time(self) -> float:
        return self.now


def simulate(work: Callable[[], Awaitable[T]]) -> T:
    loop = VirtualClock()
    try:
        return loop.run_until_complete(work())
    finally:
        loop.close()


async def sleep_for(task: Task) -> None:
    """The simulated agents: a task takes its payload in (simulated) seconds."""
    await asyncio.sleep(task.payload)


def orchestrator(strategy: str, sample: int = 2, **balancer: Any) -> Orchestrator:
    return Orchestrator.from_config(
        {
            # hook budgets are wall-clock; a garbage collection pause in a simulation holding
            # 100,000 tasks is not a slow plugin
            "orchestrator": {
                "strategy": strategy,
                "tick_interval": 1.0,
                "retry_base": 0.0,
                "hook_timeout": 10.0,
            },
            "routing": {"sample": sample},
            "plugins": {"enabled": ["balancer"], "balancer": balancer},
        }
    )


# -- 1. distribution quality -------------------------------------------------------------------

DISTRIBUTION = [
    ("random", "least-loaded", 1),  # the kernel's strategy sampling one candidate: uniform
    ("round-robin", "round-robin", 2),
    ("least-outstanding", "least-outstanding", 2),
    ("p2c (d = 2)", "p2c", 2),
]


async def distribution(strategy: str, sample: int, agents: int, tasks: int) -> dict[str, Any]:
    """Poisson arrivals at a rate that keeps 8 tasks per agent in flight on average,
    exponential durations (mean 1 s); loads sampled every 50 arrivals after the first 20%."""
    mean_load, duration = 8.0, 1.0
    rate = mean_load * agents / duration
    rng = random.Random(7)
    ratios, gaps, peaks, means = [], [], [], []
    async with orchestrator(strategy, sample) as orch:
        fleet = [
            await orch.register(
                AgentSpec(f"a{i}", {"work"}, capacity=10_000, options={"handler": sleep_for})
            )
            for i in range(agents)
        ]
        warmup = tasks // 5
        for i in range(tasks):
            await asyncio.sleep(rng.expovariate(rate))
            await orch.submit(TaskSpec("work", rng.expovariate(1 / duration), requires={"work"}))
            if i >= warmup and i % 50 == 0:
                loads = [a.in_flight for a in fleet]
                mean = sum(loads) / agents
                top = max(loads)
                ratios.append(top / mean)
                gaps.append(top - mean)
                peaks.append(top)
                means.append(mean)
        await drained(orch)
    return {
        "mean_load": statistics.fmean(means),
        "max_over_mean": statistics.fmean(ratios),
        "max_minus_mean": statistics.fmean(gaps),
        "peak_max": max(peaks),
        "samples": len(ratios),
    }


# -- 2. bounded-load hashing -------------------------------------------------------------------


def hashing_static(members: int, keys: int, removals: int = 10) -> dict[str, Any]:
    """Keys as the load (each placed key holds one unit, the setting of the analysis): hit
    rate, the worst member against the bound, and what moves when one member leaves."""

    def assign(ring: BoundedLoadRing, names: list[str]) -> tuple[dict[str, str], Counter[str]]:
        load: Counter[str] = Counter()
        placed = {}
        for total, key in enumerate(names):
            member = ring.place(key, load.__getitem__, total)
            assert member is not None
            placed[key] = member
            load[member] += 1
        return placed, load

    ring = BoundedLoadRing()
    ring.update(f"agent-{i}" for i in range(members))
    names = [f"session-{i}" for i in range(keys)]
    before, load = assign(ring, names)
    hits = sum(before[k] == ring.owner(k) for k in names) / keys
    moved, own = [], []
    for g in range(0, members, max(1, members // removals)):
        gone = f"agent-{g}"
        ring.remove(gone)
        after, _ = assign(ring, names)
        ring.add(gone)
        own.append(sum(before[k] == gone for k in names) / keys)
        moved.append(sum(before[k] != gone and after[k] != before[k] for k in names) / keys)
    return {
        "members": members,
        "keys": keys,
        "hit_rate": hits,
        "max_over_average": max(load.values()) / (keys / members),
        "bound": 1 + ring.epsilon,
        "moved_others_mean": statistics.fmean(moved),
        "moved_others_max": max(moved),
        "own_keys_mean": statistics.fmean(own),
        "removals": len(moved),
    }


async def hashing_dynamic(
    agents: int, keys: int, tasks: int, mean_load: float, epsilon: float
) -> dict[str, Any]:
    """Tasks through the ``consistent-hash`` strategy: Poisson arrivals on ``keys`` uniform
    keys, exponential durations (mean 1 s), agents of capacity 64. Every pick is checked
    against the bound; half-way one agent leaves, and the hit rate of the other keys is
    measured before and after."""
    rng = random.Random(11)
    orch = orchestrator("consistent-hash", epsilon=epsilon)
    plugin = orch.plugins["balancer"]
    assert isinstance(plugin, Balancer)
    inner = plugin.strategies["consistent-hash"]
    assert isinstance(inner, BoundedHash)
    over = [0]
    gone = "a7"
    owners: dict[str, str | None] = {}
    hits: list[Counter[str]] = [Counter(), Counter()]
    phase = [0]
    ratios: list[float] = []

    class Probe:
        def select(self, task: Task, candidates: alveary.Candidates) -> alveary.Agent | None:
            agent = inner.select(task, candidates)
            if agent is None:
                return None
            group = plugin.fleet.group(task.spec.requires)
            assert group is not None
            # the pick is counted in group.in_flight already, agent.in_flight not yet
            cap = inner.ring(group).cap(group.in_flight - 1, agent.spec.capacity, group.capacity)
            if agent.in_flight + 1 > cap:
                over[0] += 1
            key = task.spec.affinity_key or ""
            if key not in owners:
                home = inner.home(task)
                owners[key] = None if home is None else home.name
            if owners[key] != gone:
                hits[phase[0]]["tasks"] += 1
                hits[phase[0]]["hits"] += agent.name == owners[key]
            return agent

    orch.strategy = Probe()
    rate = mean_load * agents
    async with orch:
        fleet = [
            await orch.register(
                AgentSpec(f"a{i}", {"work"}, capacity=64, options={"handler": sleep_for})
            )
            for i in range(agents)
        ]
        for i in range(tasks):
            if i == tasks // 2:
                phase[0] = 1
                await orch.deregister(gone, drain=False)
                fleet = [a for a in fleet if a.name != gone]
            await asyncio.sleep(rng.expovariate(rate))
            spec = TaskSpec(
                "work",
                rng.expovariate(1.0),
                requires={"work"},
                affinity_key=f"k{rng.randrange(keys)}",
            )
            await orch.submit(spec)
            if i > tasks // 10 and i % 50 == 0:
                loads = [a.in_flight for a in fleet]
                ratios.append(max(loads) / max(1e-9, statistics.fmean(loads)))
        await drained(orch)
    return {
        "agents": agents,
        "keys": keys,
        "tasks": tasks,
        "epsilon": epsilon,
        "mean_load": mean_load,
        "hit_rate_before": hits[0]["hits"] / hits[0]["tasks"],
        "hit_rate_after": hits[1]["hits"] / hits[1]["tasks"],
        "picks_over_bound": over[0],
        "max_over_mean": statistics.fmean(ratios),
    }


async def drained(orch: Orchestrator) -> None:
    """Let the simulated clock run until no task is left in flight."""
    while orch.metrics().in_flight:  # noqa: ASYNC110 - simulated time: each sleep is a jump
        await asyncio.sleep(1.0)


# -- 3. expertise convergence ------------------------------------------------------------------


async def convergence(seed: int, tasks: int = 200, window: int = 50) -> dict[str, Any]:
    """Five agents of a kind that succeeds 95% of the time, five of one that succeeds 50%;
    ``tasks`` reviews one after another through the ``context`` strategy (sample: all)."""
    rng = random.Random(seed)

    def handler(rate: float) -> Callable[[Task], Awaitable[str]]:
        async def run(task: Task) -> str:
            if rng.random() >= rate:
                raise RuntimeError("wrong")
            return "ok"

        return run

    config = {
        "orchestrator": {"strategy": "context", "retry_base": 0.0},
        "routing": {"sample": 0},
        "plugins": {"enabled": ["context"]},
    }
    kinds = []
    async with Orchestrator.from_config(config) as orch:
        for i in range(5):
            for kind, rate in (("strong", 0.95), ("weak", 0.5)):
                await orch.register(
                    AgentSpec(
                        f"{kind}-{i}",
                        {"review"},
                        labels={"kind": kind},
                        options={"handler": handler(rate)},
                    )
                )
        for _ in range(tasks):
            spec = TaskSpec("review", requires={"review"}, max_attempts=1)
            outcome = await (await orch.submit(spec)).result()
            kinds.append(orch.agent(outcome.agent_id or "").spec.labels["kind"])
    shares = [kinds[i : i + window].count("strong") / window for i in range(0, tasks, window)]
    # converged: every window of ``window`` tasks starting from here on (in steps of 10) is
    # at least 80% strong
    sliding = {
        i: kinds[i : i + window].count("strong") / window for i in range(0, tasks - window + 1, 10)
    }
    converged = next(
        (i for i in sorted(sliding) if all(x >= 0.8 for j, x in sliding.items() if j >= i)), None
    )
    first = next((i for i in range(tasks) if kinds[i : i + 10].count("strong") >= 9), None)
    return {
        "windows": shares,
        "converged_by": converged,
        "first_strong_run": first,
        "weak_last_100": kinds[-100:].count("weak"),
    }


# -- 4. the cost of a routing decision ---------------------------------------------------------

COST = [
    ("least-loaded (kernel)", "least-loaded", "balancer"),
    ("round-robin", "round-robin", "balancer"),
    ("weighted-round-robin", "weighted-round-robin", "balancer"),
    ("least-outstanding", "least-outstanding", "balancer"),
    ("p2c", "p2c", "balancer"),
    ("consistent-hash", "consistent-hash", "balancer"),
    ("weighted-score", "weighted-score", "balancer"),
    ("adaptive", "adaptive", "balancer"),
    ("context", "context", "context"),
]


async def routing_cost(size: int, decisions: int) -> dict[str, dict[str, Any]]:
    """``orch._dispatch.route`` (the kernel's whole decision: candidates, filter and score
    hooks, the strategy, the candidate check; it reserves nothing) on idle agents, one
    strategy after another, with the plugin providing it enabled. Tasks carry 1,000 different
    affinity keys. Times each decision."""
    found: dict[str, dict[str, Any]] = {}
    rng = random.Random(3)
    probes = [
        Task(f"probe-{i}", TaskSpec("work", requires={"work"}, affinity_key=f"key-{i}"))
        for i in range(1000)
    ]
    for plugin_name in ("balancer", "context"):
        config = {"plugins": {"enabled": [plugin_name]}}
        async with Orchestrator.from_config(config) as orch:
            for i in range(size):
                await orch.register(
                    AgentSpec(f"a{i}", {"work"}, capacity=4, options={"handler": sleep_for})
                )
            provided: dict[str, Any] = {"least-loaded": orch.plugins["least-loaded"]}
            plugin = orch.plugins[plugin_name]
            if isinstance(plugin, Balancer):
                provided.update(plugin.strategies)
            elif isinstance(plugin, Context):
                provided["context"] = plugin.strategy
            for label, name, owner in COST:
                if owner != plugin_name:
                    continue
                orch.strategy = provided[name]
                route = orch._dispatch.route
                clock = time.perf_counter_ns
                samples = []
                for _ in range(200):  # warm up: rings and schedules are built on first use
                    route(rng.choice(probes))
                gc.collect()
                gc.disable()
                try:
                    for n in range(decisions):
                        task = probes[n % 1000]
                        start = clock()
                        agent = route(task)
                        samples.append(clock() - start)
                        if agent is None:
                            raise RuntimeError(f"{name}: no agent at {size}")
                        if n % 1000 == 999:
                            plugin.fleet.resync()  # picks are counted, never released here
                finally:
                    gc.enable()
                found[label] = latency(samples)
    return found


# -- running and reporting ---------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, rule, *body])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller fleets, fewer tasks")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "balancer.json")
    parser.add_argument(
        "--only", choices=["distribution", "hashing", "expertise", "cost"], action="append"
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    only = set(args.only or ["distribution", "hashing", "expertise", "cost"])
    say = Progress()
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "alveary": alveary.__version__,
        "plan": plan,
    }

    if "distribution" in only:
        agents, tasks = plan["agents"], plan["tasks"]
        rows = []
        report["distribution"] = {}
        for label, strategy, sample in DISTRIBUTION:
            say(f"distribution: {label}, {agents} agents, {tasks} tasks")
            found = simulate(lambda s=strategy, k=sample: distribution(s, k, agents, tasks))
            report["distribution"][label] = found
            rows.append(
                [
                    label,
                    f"{found['mean_load']:.2f}",
                    f"{found['max_over_mean']:.2f}",
                    f"{found['max_minus_mean']:.1f}",
                    str(found["peak_max"]),
                ]
            )
        bound = math.log(math.log(agents)) / math.log(2)
        report["distribution_bound"] = {"lnln_n_over_ln_d": bound}
        print(f"\nDistribution: {agents} agents, {tasks} tasks, exponential durations")
        print(table(["strategy", "mean load", "max / mean", "max - mean", "peak max"], rows))
        print(f"power of two choices: max - mean <= ln ln n / ln 2 + O(1) = {bound:.2f} + O(1)")

    if "hashing" in only:
        say("hashing: keys as load")
        static = hashing_static(plan["hash_agents"], plan["hash_keys"])
        small = hashing_static(plan["hash_agents"], plan["hash_keys"] // 5)
        report["hashing_static"] = [static, small]
        rows = [
            [
                f"{s['members']} / {s['keys']}",
                f"{s['hit_rate']:.1%}",
                f"{s['max_over_average']:.3f} (<= {s['bound']:.2f})",
                f"{s['moved_others_mean']:.2%} (max {s['moved_others_max']:.2%})",
                f"{s['own_keys_mean']:.2%}",
            ]
            for s in (static, small)
        ]
        print("\nBounded-load hashing, keys as the load (epsilon 0.25, 64 points per agent)")
        print(
            table(
                ["agents / keys", "hit rate", "max / average", "other keys moved", "own keys"], rows
            )
        )
        dynamic = []
        for load, epsilon in ((4.0, 0.25), (16.0, 0.25), (32.0, 0.25), (16.0, 0.5), (16.0, 1.0)):
            say(f"hashing: consistent-hash, {load:g} in flight per agent, epsilon {epsilon:g}")
            dynamic.append(
                simulate(
                    lambda x=load, e=epsilon: hashing_dynamic(
                        plan["hash_agents"], 1_000, plan["hash_tasks"], x, e
                    )
                )
            )
        report["hashing_dynamic"] = dynamic
        rows = [
            [
                f"{d['mean_load']:g} ({d['mean_load'] / 64:.0%})",
                f"{d['epsilon']:g}",
                f"{d['hit_rate_before']:.1%}",
                f"{d['hit_rate_after']:.1%}",
                f"{d['max_over_mean']:.2f}",
                str(d["picks_over_bound"]),
            ]
            for d in dynamic
        ]
        print(
            f"\nconsistent-hash strategy: {plan['hash_agents']} agents of capacity 64, 1,000 keys, "
            f"{plan['hash_tasks']} tasks; one agent leaves half-way (hit rates of the other keys)"
        )
        headers = ["in flight / agent", "epsilon", "hits before", "hits after"]
        print(table([*headers, "max / mean", "picks over bound"], rows))

    if "expertise" in only:
        runs = []
        for seed in range(plan["seeds"]):
            say(f"expertise: seed {seed}")
            runs.append(asyncio.run(convergence(seed)))
        report["expertise"] = runs
        windows = [statistics.fmean(r["windows"][i] for r in runs) for i in range(4)]
        print("\nExpertise: 5 agents succeeding 95%, 5 succeeding 50%: share to the strong kind")
        print(
            table(
                ["tasks", *[f"{50 * i + 1}-{50 * i + 50}" for i in range(4)]],
                [["strong share (mean of runs)", *[f"{w:.0%}" for w in windows]]],
            )
        )
        print(
            "first task of a run of 10 with >= 9 strong: "
            + ", ".join(str(r["first_strong_run"]) for r in runs)
            + "; every later 50-task window >= 80% strong from task: "
            + ", ".join(str(r["converged_by"]) for r in runs)
            + "; weak-kind tasks in the last 100 (exploration): "
            + ", ".join(str(r["weak_last_100"]) for r in runs)
        )

    if "cost" in only:
        report["cost"] = {}
        for size in plan["sizes"]:
            say(f"routing cost at {size} agents")
            report["cost"][str(size)] = asyncio.run(routing_cost(size, plan["decisions"]))
        small, large = (str(s) for s in plan["sizes"])
        rows = []
        for label, _, _ in COST:
            a, b = report["cost"][small][label], report["cost"][large][label]
            rows.append(
                [
                    label,
                    f"{a['p50_us']:.1f}",
                    f"{a['p99_us']:.1f}",
                    f"{b['p50_us']:.1f}",
                    f"{b['p99_us']:.1f}",
                    f"{b['p50_us'] / a['p50_us']:.2f}",
                ]
            )
        print(f"\nRouting decision cost (microseconds), {small} and {large} agents")
        print(
            table(
                [
                    "strategy",
                    f"p50 @{small}",
                    f"p99 @{small}",
                    f"p50 @{large}",
                    f"p99 @{large}",
                    "p50 ratio",
                ],
                rows,
            )
        )

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    say(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
