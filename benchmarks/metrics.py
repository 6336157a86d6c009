"""What the metrics plugin costs per task, and what a scrape costs.

    uv run python benchmarks/metrics.py            # about a minute on 2 cores
    uv run python benchmarks/metrics.py --quick    # about 15 seconds

1. The plugin's own work: each ``alveary_event`` call timed during a real throughput run
   (below), less what reading the clock costs, summed and divided by N. Best of five.
2. End to end: tasks per second on the kernel harness's throughput run (50 agents of
   capacity 1, a no-op handler, N tasks submitted then awaited) with the built-ins only, with
   one no-op ``alveary_event`` plugin (the kernel then builds every event), and with the
   metrics plugin; nine rounds of the three, each first in turn. The cost of turning the
   plugin on, events included, is the difference in time per task within each round: the
   median of those, and their range (the runs of one round share the machine's pace).
3. A scrape: ``render()`` after the run, with 100 kinds seen.

Prints a table and writes ``benchmarks/results/metrics.json``. Numbers only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _kernel  # noqa: E402
from _common import collect_as_alveary_run  # noqa: E402
from alveary import Event, Orchestrator, TaskSpec, hookimpl  # noqa: E402
from alveary_metrics import Config, Metrics  # noqa: E402

VARIANTS = ("builtins", "noop-event", "metrics")


def orchestrator(variant: str) -> Orchestrator:
    plugins: list[object] = []
    if variant == "noop-event":
        plugins = [NoopEvent()]
    elif variant == "metrics":
        plugins = [Metrics(Config(listen="127.0.0.1:0"))]
    return Orchestrator.from_config({}, plugins=plugins)


class NoopEvent:
    """Takes every event and does nothing: what building and delivering events costs."""

    name = "noop-event"

    @hookimpl
    def alveary_event(self, event: Event) -> None:
        return None


class Timed(Metrics):
    """The metrics plugin, timing each of its ``alveary_event`` calls in a real run."""

    def __init__(self) -> None:
        super().__init__(Config(listen="127.0.0.1:0"))
        self.spent = 0
        self.calls = 0

    @hookimpl
    def alveary_event(self, event: Event) -> None:
        clock = time.perf_counter_ns
        start = clock()
        super().alveary_event(event)
        self.spent += clock() - start
        self.calls += 1


def clock_cost() -> float:
    """Nanoseconds two clock readings cost, to take off each timed call."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(100_000):
        start = clock()
        samples.append(clock() - start)
    return float(statistics.median(samples))


async def own_work(tasks: int) -> float:
    """Nanoseconds per task of the plugin's ``alveary_event``, timed in a real run (each
    call timed, the clock's own cost taken off); the best of five runs."""
    best = float("inf")
    for _ in range(5):
        plugin = Timed()
        async with Orchestrator.from_config({}, plugins=[plugin]) as orch:
            await _kernel.register(orch, _kernel.agent_specs(50))
            plugin.spent = plugin.calls = 0
            await _kernel.throughput(orch, tasks)
        overhead = clock_cost()
        best = min(best, (plugin.spent - overhead * plugin.calls) / tasks)
        assert plugin.tally.kinds["noop"].finished["succeeded"] == tasks
    return best


async def throughput(variant: str, tasks: int) -> float:
    async with orchestrator(variant) as orch:
        await _kernel.register(orch, _kernel.agent_specs(50))
        result = await _kernel.throughput(orch, tasks)
    return float(result["tasks_per_s"])


async def scrape_cost(kinds: int) -> float:
    """Milliseconds per ``render()`` with ``kinds`` kinds and 50 agents."""
    plugin = Metrics(Config(listen="127.0.0.1:0"))
    async with Orchestrator.from_config({}, plugins=[plugin]) as orch:
        await _kernel.register(orch, _kernel.agent_specs(50))
        handles = [
            await orch.submit(TaskSpec(f"kind-{i % kinds}", requires=_kernel.CAPABILITY))
            for i in range(kinds * 10)
        ]
        await asyncio.gather(*(h.result() for h in handles))
        start = time.perf_counter()
        for _ in range(20):
            plugin.render()
        return (time.perf_counter() - start) / 20 * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    args = parser.parse_args(argv)
    tasks, rounds = (5_000, 3) if args.quick else (20_000, 9)
    collector = collect_as_alveary_run()

    asyncio.run(_kernel.warmup("builtins"))
    own = asyncio.run(own_work(tasks))
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for round in range(rounds):
        for variant in VARIANTS[round % 3 :] + VARIANTS[: round % 3]:  # each first in turn
            rates[variant].append(asyncio.run(throughput(variant, tasks)))
            gc.collect()
    median = {v: statistics.median(r) for v, r in rates.items()}
    per_task = {v: 1e6 / rate for v, rate in median.items()}
    costs = {
        against: sorted(
            1e6 / m - 1e6 / a for m, a in zip(rates["metrics"], rates[against], strict=True)
        )
        for against in ("builtins", "noop-event")
    }
    scrape_ms = asyncio.run(scrape_cost(100))

    print(f"alveary_event of the metrics plugin, per task:   {own / 1000:6.2f} µs")
    for variant in VARIANTS:
        print(
            f"throughput, {variant:11}  {median[variant]:9.0f} tasks/s"
            f"  {per_task[variant]:6.2f} µs/task"
        )
    for against, cost in costs.items():
        print(
            f"metrics on vs {against + ':':11} {statistics.median(cost):+6.2f} µs/task"
            f" (rounds: {cost[0]:+.2f} to {cost[-1]:+.2f})"
        )
    print(f"a scrape (render) with 100 kinds, 50 agents:     {scrape_ms:6.2f} ms")
    print(f"garbage collection: {collector}")

    out = HERE / "results" / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results = {
        "tasks": tasks,
        "own_ns_per_task": own,
        "tasks_per_s": rates,
        "median_tasks_per_s": median,
        "cost_us_per_task": {k: statistics.median(v) for k, v in costs.items()},
        "scrape_ms": scrape_ms,
        "collector": collector,
    }
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
