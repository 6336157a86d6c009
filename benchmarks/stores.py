"""The stores side by side: what durability costs a submit, on the same no-op local pool.

    uv run python benchmarks/stores.py            # about three minutes
    uv run python benchmarks/stores.py --quick    # about 15 seconds
    uv run --with 'celery[redis]>=5,<6' python benchmarks/stores.py --celery

For ``memory``, ``sqlite`` (``synchronous`` full and normal) and ``redis`` (a redis-server
started here with ``appendfsync`` everysec and always): throughput, N tasks submitted at
once (their commits shared) from the first submit to the last result; and the delegation
round trip, ``await (await submit()).result()`` one at a time, p50/p99; each the median of
three rounds that take the stores in turn (one round with ``--quick``), collecting garbage as
``alveary run`` does (``ALVEARY_BENCH_GC=default``: as CPython does). With ``--celery``,
the same two on Celery with a Redis broker (2 prefork workers, ``acks_late``, a no-op task).
Prints a table and writes ``benchmarks/results/stores.json``. Numbers only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import alveary
from _common import Progress, collect_as_alveary_run, latency, redis_server
from alveary import AgentSpec, TaskSpec

HERE = Path(__file__).resolve().parent
FULL = {"tasks": 20_000, "round_trips": 2_000, "repeats": 3}
QUICK = {"tasks": 3_000, "round_trips": 300, "repeats": 1}


async def noop(task: alveary.Task) -> None:
    """The pool's handler: returns at once."""


async def measure(config: dict[str, Any], tasks: int, round_trips: int) -> dict[str, Any]:
    async with alveary.Orchestrator.from_config(config) as orch:
        for i in range(4):
            await orch.register(
                AgentSpec(f"a{i}", {"noop"}, capacity=64, options={"handler": noop})
            )
        spec = TaskSpec("noop", None, requires={"noop"})
        for _ in range(50):  # warm up
            await (await orch.submit(spec)).result()
        start = time.perf_counter()
        handles = await asyncio.gather(*(orch.submit(spec) for _ in range(tasks)))
        await asyncio.gather(*(h.result() for h in handles))
        throughput = tasks / (time.perf_counter() - start)
        samples = []
        for _ in range(round_trips):
            t0 = time.perf_counter_ns()
            await (await orch.submit(spec)).result()
            samples.append(time.perf_counter_ns() - t0)
    return {"throughput_per_s": throughput, "round_trip": latency(samples)}


def configs(folder: Path) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Name -> (orchestrator config, redis appendfsync or None)."""
    out: dict[str, tuple[dict[str, Any], str | None]] = {"memory": ({}, None)}
    for sync in ("full", "normal"):
        state = {"path": str(folder / f"{sync}.db"), "synchronous": sync}
        out[f"sqlite ({sync})"] = ({"store": "sqlite", "state": state}, None)
    if shutil.which("redis-server"):
        for fsync in ("everysec", "always"):
            out[f"redis (appendfsync {fsync})"] = ({"store": "redis", "state": {}}, fsync)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--celery", action="store_true", help="also Celery, Redis broker")
    parser.add_argument("--output", default=str(HERE / "results" / "stores.json"))
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    collector = collect_as_alveary_run()
    results = asyncio.run(run_all(size, celery=args.celery))
    render(results, size)
    print(f"garbage collection: {collector}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), **size}
    meta["collector"] = collector
    Path(args.output).write_text(json.dumps({"meta": meta, "results": results}, indent=2))


async def run_all(size: dict[str, int], *, celery: bool) -> dict[str, Any]:
    """Every store in turn, each on a fresh orchestrator, file and server, ``repeats`` rounds
    (so that a slower minute of a shared machine falls on every store alike); the median of
    each measure over the rounds. Then Celery."""
    progress = Progress()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(size["repeats"]):
            folder = Path(tmp) / str(round_)
            folder.mkdir()
            for name, (setting, fsync) in configs(folder).items():
                progress(f"{name}, round {round_ + 1} of {size['repeats']}")
                config: dict[str, Any] = {"orchestrator": {}}
                server = None
                if setting:
                    config["orchestrator"]["store"] = setting["store"]
                    config["plugins"] = {"enabled": ["state"], "state": dict(setting["state"])}
                if fsync is not None:
                    (folder / fsync).mkdir()
                    server, url = redis_server(folder / fsync, fsync)
                    config["plugins"]["state"]["url"] = url
                try:
                    run = await measure(config, size["tasks"], size["round_trips"])
                finally:
                    if server is not None:
                        server.terminate()
                        server.wait()
                runs.setdefault(name, []).append(run)
        results: dict[str, Any] = {name: _median(each) for name, each in runs.items()}
        folder = Path(tmp)
        if celery:
            import _celery

            progress("celery (redis broker)")
            results["celery (redis broker)"] = _celery.measure(
                folder, size["tasks"], size["round_trips"]
            )
    return results


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median throughput and round-trip percentiles of a store's rounds, and each round's
    throughput."""
    rates = [r["throughput_per_s"] for r in runs]
    trips = [r["round_trip"] for r in runs]
    return {
        "throughput_per_s": statistics.median(rates),
        "rounds_per_s": rates,
        "round_trip": {key: statistics.median(t[key] for t in trips) for key in trips[0]},
    }


def render(results: dict[str, Any], size: dict[str, int]) -> None:
    print(
        f"\n{size['tasks']} tasks at once; {size['round_trips']} sequential round trips; "
        f"median of {size['repeats']} rounds"
    )
    print(f"{'store':<28} {'tasks/s':>10} {'rt p50 us':>10} {'rt p99 us':>10}")
    for name, r in results.items():
        rt = r["round_trip"]
        print(
            f"{name:<28} {r['throughput_per_s']:>10.0f} {rt['p50_us']:>10.0f} {rt['p99_us']:>10.0f}"
        )


if __name__ == "__main__":
    main()
