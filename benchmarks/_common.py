"""Small helpers shared by the benchmark modules: percentiles, latency summaries, progress."""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any


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
