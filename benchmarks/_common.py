"""Small helpers shared by the benchmark modules: percentiles, latency summaries, progress,
how this process collects garbage, and a redis-server to measure against."""

from __future__ import annotations

import gc
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def collect_as_alveary_run() -> str:
    """Collect garbage in this process as ``alveary run`` does (its young generation every
    10,000 allocations), unless ``ALVEARY_BENCH_GC=default``; says which, for the results.

    How often CPython collects decides much of a busy orchestrator's speed (up to half of its
    time at CPython's default): the numbers are measured as the orchestrator runs in
    production, and ``ALVEARY_BENCH_GC=default`` shows them as an embedding program that
    leaves the collector alone gets them."""
    if os.environ.get("ALVEARY_BENCH_GC") == "default":
        return "CPython's default (young generation every 700 allocations)"
    from alveary._runcmd import YOUNG_GC_THRESHOLD, collect_less

    collect_less()
    return f"as alveary run (young generation every {YOUNG_GC_THRESHOLD:,} allocations)"


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (``q`` in ``[0, 100]``) of ``values``."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def latency(samples_ns: Sequence[int]) -> dict[str, Any]:
    """Summarise per-operation latencies measured in nanoseconds, in microseconds."""
    us = [s / 1000 for s in samples_ns]
    return {
        "n": len(us),
        "p50_us": percentile(us, 50),
        "p99_us": percentile(us, 99),
        "mean_us": statistics.fmean(us),
        "max_us": max(us),
    }


class Progress:
    """Says on stderr what a long run is doing, with the time since it started."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            print(f"[{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


class GcTimer:
    """Time spent in the cyclic garbage collector while the block runs (``seconds``) and how
    many collections each generation had (``collections``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server(folder: Path, fsync: str) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server with an append-only file fsynced ``fsync``; its process and URL."""
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "yes", "--appendfsync", fsync, "--dir", str(folder)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError("redis-server did not start")
