"""Benchmark the alveary kernel against a bare asyncio floor (and, with ``--peers``, Dask/Ray).

    python benchmarks/run.py             # the full run, under two minutes on 2 cores
    python benchmarks/run.py --quick     # a smaller run, under 20 seconds
    uv run --with distributed --with ray python benchmarks/run.py --peers

Prints a table and writes JSON (``benchmarks/results/kernel.json`` unless ``--output``).
It reports numbers and whether each target was met; it never fails on a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import _floor
import _kernel
import _memory
import _peers
import alveary
from _common import Progress, collect_as_alveary_run, latency
from _report import evaluate, ratios, render

FULL: dict[str, Any] = {
    "sizes": [50, 1_000, 10_000],
    "round_trips": 5_000,
    "warmup": 500,
    "tasks": 50_000,
    "repeats": 3,
    "floor_runs": 10,
    "routing_batches": 30,
    "routing_per_batch": 1_000,
    "peer_round_trips": 500,
    "peer_tasks": 10_000,
}
QUICK: dict[str, Any] = {
    "sizes": [50, 1_000, 10_000],
    "round_trips": 500,
    "warmup": 100,
    "tasks": 5_000,
    "repeats": 3,
    "floor_runs": 10,
    "routing_batches": 10,
    "routing_per_batch": 500,
    "peer_round_trips": 100,
    "peer_tasks": 2_000,
}


async def _kernel_at(variant: str, size: int, settings: dict[str, Any], say: Progress) -> Any:
    label = f"{_kernel.LABELS[variant]}, {size:,} agents"
    specs = _kernel.agent_specs(size)
    await _kernel.warmup(variant)
    async with _kernel.orchestrator(variant) as orch:
        say(f"kernel ({label}): registering")
        registration = latency(await _kernel.register(orch, specs))
        say(f"kernel ({label}): {settings['round_trips']:,} round trips")
        delegation = await _kernel.round_trips(orch, settings["round_trips"], settings["warmup"])
        say(f"kernel ({label}): routing decisions")
        routing = _kernel.routing(orch, settings["routing_batches"], settings["routing_per_batch"])
    return {"registration": registration, "delegation": delegation, "routing": routing}


def _throughput_at(size: int, settings: dict[str, Any], say: Progress) -> dict[str, list[Any]]:
    """Throughput runs of each kernel variant and of the floor, in alternation (each first in
    turn): a run and the floor run it is compared with are seconds apart, not minutes, so the
    machine's changes of pace between them are small."""
    specs = _kernel.agent_specs(size)
    names = [*_kernel.VARIANTS, "floor"]
    runs: dict[str, list[Any]] = {name: [] for name in names}
    for i in range(settings["repeats"]):
        say(f"throughput at {size:,} agents, {settings['tasks']:,} tasks, round {i + 1}")
        for name in names[i % len(names) :] + names[: i % len(names)]:
            if name == "floor":
                run = asyncio.run(
                    _floor.throughput_window(size, settings["tasks"], settings["floor_runs"])
                )
            else:
                run = asyncio.run(_kernel.throughput_fresh(name, specs, settings["tasks"]))
            runs[name].append(run)
            gc.collect()
    return runs


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of repeated throughput runs, with every run's rate kept."""
    ordered = sorted(runs, key=lambda r: r["tasks_per_s"])
    median = dict(ordered[len(ordered) // 2])
    median["runs"] = [r["tasks_per_s"] for r in runs]
    return median


async def _floor_at(size: int, settings: dict[str, Any], say: Progress) -> Any:
    say(f"floor ({size:,} workers): round trips")
    delegation = await _floor.round_trips(size, settings["round_trips"], settings["warmup"])
    return {"delegation": delegation}


def _run_peers(settings: dict[str, Any], say: Progress) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, missing in _peers.available().items():
        if missing is not None:
            print(f"note: peer {name} skipped: {missing}", file=sys.stderr)
            results[name] = {"skipped": missing}
            continue
        say(f"peer {name}: round trips and throughput")
        try:
            results[name] = asyncio.run(
                _peers.PEERS[name](
                    settings["peer_round_trips"], settings["warmup"] // 5, settings["peer_tasks"]
                )
            )
        except Exception as exc:  # a peer that breaks is reported, the run goes on
            print(f"note: peer {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            results[name] = {"skipped": f"failed: {type(exc).__name__}: {exc}"}
    return results


def _machine() -> dict[str, Any]:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "alveary": alveary.__version__,
    }


def run(settings: dict[str, Any], peers: bool, say: Progress) -> dict[str, Any]:
    """Every measurement, in one dict shaped like the JSON output."""
    kernel: dict[str, dict[str, Any]] = {}
    for variant in _kernel.VARIANTS:
        kernel[variant] = {}
        for size in settings["sizes"]:
            kernel[variant][str(size)] = asyncio.run(_kernel_at(variant, size, settings, say))
            gc.collect()
    floor = {str(size): asyncio.run(_floor_at(size, settings, say)) for size in settings["sizes"]}
    for size in settings["sizes"]:
        runs = _throughput_at(size, settings, say)
        floor[str(size)]["throughput"] = _median_run(runs["floor"])
        for variant in _kernel.VARIANTS:
            found = kernel[variant][str(size)]["throughput"] = _median_run(runs[variant])
            found["floor_ratios"] = [
                f["tasks_per_s"] / k["tasks_per_s"]
                for k, f in zip(runs[variant], runs["floor"], strict=True)
            ]
    biggest = max(settings["sizes"])
    say(f"memory: tracemalloc and RSS around registering {biggest:,} agents (fresh processes)")
    memory = {
        "tracemalloc": _memory.measure("tracemalloc", biggest),
        "rss": _memory.measure("rss", biggest),
    }
    results: dict[str, Any] = {
        "machine": _machine(),
        "settings": settings,
        "kernel": kernel,
        "floor": floor,
        "memory": memory,
    }
    if peers:
        results["peers"] = _run_peers(settings, say)
    results["ratios"] = ratios(results)
    results["targets"] = evaluate(results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (under 20 s)")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "kernel.json",
        help="where to write the JSON results (default: benchmarks/results/kernel.json)",
    )
    parser.add_argument(
        "--peers", action="store_true", help="also measure Dask and Ray if they are importable"
    )
    parser.add_argument("--tasks", type=int, help="tasks per throughput run")
    parser.add_argument("--round-trips", type=int, help="sequential round trips per fleet size")
    parser.add_argument(
        "--sizes", help="comma-separated fleet sizes (default 50,1000,10000)", default=None
    )
    parser.add_argument("--no-progress", action="store_true", help="say nothing on stderr")
    args = parser.parse_args(argv)

    settings = dict(QUICK if args.quick else FULL)
    if args.tasks:
        settings["tasks"] = args.tasks
    if args.round_trips:
        settings["round_trips"] = args.round_trips
    if args.sizes:
        settings["sizes"] = sorted(int(s) for s in args.sizes.split(","))
    settings["quick"] = args.quick
    settings["collector"] = collect_as_alveary_run()

    say = Progress(not args.no_progress)
    started = time.perf_counter()
    results = run(settings, args.peers, say)
    results["seconds"] = round(time.perf_counter() - started, 1)
    say(f"done in {results['seconds']} s")

    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {os.path.relpath(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
