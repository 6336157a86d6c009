"""The Celery peer of ``stores.py``: a Redis broker and result backend, two prefork workers,
``acks_late``, a no-op task. Celery is no dependency; bring it in with
``uv run --with 'celery[redis]>=5,<6' python benchmarks/stores.py --celery``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import latency, redis_server

APP = """
from celery import Celery

app = Celery("bench", broker="{url}", backend="{url}")
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4, result_expires=600)


@app.task
def noop(x):
    return None
"""


def measure(
    folder: Path,
    tasks: int,
    round_trips: int,
) -> dict[str, Any]:
    """Round trips (``delay().get()`` one at a time), then throughput (``tasks`` sent at
    once, then every result awaited), against a redis-server with appendfsync everysec."""
    (folder / "celery").mkdir()
    server, url = redis_server(folder / "celery", "everysec")
    (folder / "celery" / "benchapp.py").write_text(APP.format(url=url))
    env = {**os.environ, "PYTHONPATH": str(folder / "celery")}
    command = [sys.executable, "-m", "celery", "-A", "benchapp", "worker", "--pool=prefork"]
    command += ["--concurrency=2", "--loglevel=WARNING", "--without-gossip", "--without-mingle"]
    worker = subprocess.Popen(
        command,
        env=env,
        cwd=folder / "celery",
        stdout=(folder / "celery" / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    sys.path.insert(0, str(folder / "celery"))
    try:
        import benchapp  # type: ignore[import-not-found]

        benchapp.noop.delay(0).get(timeout=60)  # the workers are up
        for i in range(50):
            benchapp.noop.delay(i).get(timeout=10)
        samples = []
        for i in range(round_trips):
            t0 = time.perf_counter_ns()
            benchapp.noop.delay(i).get(timeout=60)
            samples.append(time.perf_counter_ns() - t0)
        start = time.perf_counter()
        sent = [benchapp.noop.delay(i) for i in range(tasks)]
        for result in sent:
            result.get(timeout=600)
        throughput = tasks / (time.perf_counter() - start)
        del sent
        return {"throughput_per_s": throughput, "round_trip": latency(samples)}
    finally:
        sys.path.remove(str(folder / "celery"))
        worker.terminate()
        worker.wait(30)
        server.terminate()
        server.wait()
