"""The ``ray`` runtime's cost per task: alveary's round trip against calling the actor directly.

    uv run python benchmarks/ray_runtime.py            # 2,000 round trips each way
    uv run python benchmarks/ray_runtime.py --quick    # 300

One local Ray cluster (``ray.init``, 2 CPUs) and one agent function returning its payload.
Both sides use the same actor class, so the difference is what alveary adds: the submit,
routing, the attempt's bookkeeping and events, and the runtime's call.

1. Round trips, one at a time: ``await actor.run.remote(...)`` on an actor made directly,
   against ``await (await orch.submit(...)).result()`` on an agent of a ``ray`` pool.
2. Throughput: ``--burst`` calls at once each way, on one actor running up to 8 at once.

Prints a table. Numbers only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import Progress, latency
from alveary import Orchestrator, TaskSpec
from alveary.testing import until

AGENT = """
from alveary.agent import agent

@agent(capabilities={"echo"}, capacity=8)
async def echo(job):
    return job.payload
"""


async def direct(ray: Any, count: int, burst: int) -> dict[str, Any]:
    from alveary_ray._actor import AgentActor

    actor = ray.remote(AgentActor).options(max_concurrency=9, num_cpus=0).remote("bench_agent:echo")
    await actor.ready.remote()

    async def call(i: int) -> Any:
        return await actor.run.remote(f"t{i}", "echo", i, 1, 300.0)

    try:
        return await measure(call, count, burst)
    finally:
        ray.kill(actor)


async def measure(call: Callable[[int], Awaitable[Any]], count: int, burst: int) -> dict[str, Any]:
    """``count`` round trips one at a time (after a tenth as many to warm up), then
    ``burst`` calls at once: the round trip's latency and the burst's rate."""
    samples = []
    for i in range(count + count // 10):
        start = time.perf_counter_ns()
        await call(i)
        if i >= count // 10:
            samples.append(time.perf_counter_ns() - start)
    start_s = time.perf_counter()
    await asyncio.gather(*(call(i) for i in range(burst)))
    elapsed = time.perf_counter() - start_s
    return {"round_trip": latency(samples), "per_s": burst / elapsed}


async def through_alveary(count: int, burst: int) -> dict[str, Any]:
    config = {
        "plugins": {"enabled": ["ray"]},
        "orchestrator": {"tick_interval": 0.05, "retry_base": 0.0},
        "pools": [
            {
                "name": "echo",
                "runtime": "ray",
                "capabilities": ["echo"],
                "capacity": 8,
                "options": {"handler": "bench_agent:echo", "num_cpus": 0},
            }
        ],
    }
    async with Orchestrator.from_config(config) as orch:
        await until(lambda: len(orch.agents()) == 1, timeout=300)

        async def call(i: int) -> Any:
            handle = await orch.submit(TaskSpec("echo", i, requires={"echo"}))
            return (await handle.result()).value

        return await measure(call, count, burst)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 round trips, a burst of 500")
    parser.add_argument("--burst", type=int, default=None, help="calls at once (default 2000)")
    args = parser.parse_args()
    count = 300 if args.quick else 2000
    burst = args.burst or (500 if args.quick else 2000)
    progress = Progress()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_agent.py").write_text(AGENT, encoding="utf-8")
        progress("starting a local Ray cluster")
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": tmp}},
        )
        try:
            progress(f"{count} round trips and {burst} at once, on the actor directly")
            bare = asyncio.run(direct(ray, count, burst))
            progress("the same through alveary's ray runtime")
            ours = asyncio.run(through_alveary(count, burst))
        finally:
            ray.shutdown()
    print(f"ray {ray.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s)")
    print(f"{'':24}{'p50 us':>10}{'p99 us':>10}{'mean us':>10}{'tasks/s':>10}")
    for name, row in (("actor directly", bare), ("alveary ray runtime", ours)):
        rt = row["round_trip"]
        print(
            f"{name:24}{rt['p50_us']:10.0f}{rt['p99_us']:10.0f}{rt['mean_us']:10.0f}"
            f"{row['per_s']:10.0f}"
        )
    extra = ours["round_trip"]["p50_us"] - bare["round_trip"]["p50_us"]
    print(f"alveary adds {extra:.0f} us per task at the median (one at a time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
