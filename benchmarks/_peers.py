"""Peers, measured in the same run as the kernel: dask.distributed, Ray and Celery, when
importable (Celery also needs ``redis-server`` on PATH, for its broker).

None is a dependency of anything; bring one in for a run with
``uv run --with distributed python benchmarks/run.py --peers`` (or ``--with ray``,
``--with 'celery[redis]>=5,<6'``). Each runs a no-op function: the round trip is submit ->
result awaited, one at a time; throughput submits ``count`` calls and awaits them all.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import latency


def noop(x: Any) -> None:
    """The peers' task: returns at once."""


def available() -> dict[str, str | None]:
    """Peer name -> None if importable, else why it is skipped."""
    found: dict[str, str | None] = {}
    for name, module, extra in (
        ("dask", "distributed", "distributed"),
        ("ray", "ray", "ray"),
        ("celery", "celery", "'celery[redis]>=5,<6'"),
    ):
        if importlib.util.find_spec(module) is None:
            found[name] = f"{module} is not installed (uv run --with {extra} ... --peers)"
        elif name == "celery" and shutil.which("redis-server") is None:
            found[name] = "redis-server, its broker, is not on PATH (apt-get install redis-server)"
        else:
            found[name] = None
    return found


async def _time_round_trips(
    call: Callable[[int], Awaitable[Any]], count: int, warmup: int
) -> dict[str, Any]:
    clock = time.perf_counter_ns
    samples = []
    for i in range(warmup + count):
        start = clock()
        await call(i)
        elapsed = clock() - start
        if i >= warmup:
            samples.append(elapsed)
    return latency(samples)


async def dask(round_trips: int, warmup: int, tasks: int) -> dict[str, Any]:
    """dask.distributed on a ``LocalCluster(processes=False)``: scheduler and worker threads
    in this process, no network hop between processes."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    async with (
        LocalCluster(processes=False, asynchronous=True, dashboard_address=None) as cluster,
        Client(cluster, asynchronous=True) as client,
    ):

        async def call(i: int) -> Any:
            return await client.submit(noop, i, pure=False)

        rt = await _time_round_trips(call, round_trips, warmup)
        start = time.perf_counter()
        futures = client.map(noop, range(tasks), pure=False)
        await client.gather(futures)
        elapsed = time.perf_counter() - start
        workers = len(cluster.workers)
        threads = sum(w.state.nthreads for w in cluster.workers.values())
    return {
        "setup": f"LocalCluster(processes=False): {workers} worker(s), {threads} thread(s)",
        "delegation": rt,
        "throughput": {"tasks": tasks, "seconds": elapsed, "tasks_per_s": tasks / elapsed},
    }


async def ray(round_trips: int, warmup: int, tasks: int) -> dict[str, Any]:
    """Ray on a local single-node cluster started for the run (worker processes)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report over the network
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # do not ship the work tree
    import ray as ray_

    def ray_noop(x: Any) -> None:
        """Defined here so that Ray ships it by value: workers cannot import this module."""

    ray_.init(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        remote = ray_.remote(ray_noop)

        async def call(i: int) -> Any:
            return await remote.remote(i)

        rt = await _time_round_trips(call, round_trips, warmup)
        start = time.perf_counter()
        await asyncio.gather(*(remote.remote(i) for i in range(tasks)))
        elapsed = time.perf_counter() - start
        cpus = int(ray_.cluster_resources().get("CPU", 0))
    finally:
        ray_.shutdown()
    return {
        "setup": f"ray.init() local node, {cpus} CPU(s)",
        "delegation": rt,
        "throughput": {"tasks": tasks, "seconds": elapsed, "tasks_per_s": tasks / elapsed},
    }


async def celery(round_trips: int, warmup: int, tasks: int) -> dict[str, Any]:
    """Celery with a Redis broker and result backend (a redis-server started for the run,
    appendfsync everysec), two prefork workers, ``acks_late``: ``_celery.py``, as
    ``stores.py --celery`` measures it."""
    import _celery

    with tempfile.TemporaryDirectory() as folder:
        measured = await asyncio.to_thread(_celery.measure, Path(folder), tasks, round_trips)
    rate = measured["throughput_per_s"]
    return {
        "setup": "Redis broker and backend, 2 prefork workers, acks_late",
        "delegation": measured["round_trip"],
        "throughput": {"tasks": tasks, "seconds": tasks / rate, "tasks_per_s": rate},
    }


PEERS: dict[str, Callable[[int, int, int], Awaitable[dict[str, Any]]]] = {
    "dask": dask,
    "ray": ray,
    "celery": celery,
}
