"""Small helpers shared by the benchmark modules: percentiles, latency summaries, progress,
and how this process collects garbage."""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Sequence
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
