"""What a run measures: one sample per task, live counters for the progress line, and the
summaries (percentiles, throughput over time) the report and the targets read."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import attrs


@attrs.frozen
class Sample:
    """One task: its phase, when it was submitted (seconds into the run), how long until its
    result (None if it never came), and whether it succeeded."""

    phase: str
    submitted: float
    latency: float | None
    ok: bool
    error: str | None = None

    @property
    def finished(self) -> float | None:
        return None if self.latency is None else self.submitted + self.latency


class Recorder:
    """Collects samples as tasks finish, and the counts the progress line shows."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.samples: list[Sample] = []
        self.phase = "preparation"
        self.submitted = 0
        self.in_flight = 0
        self.agents = 0
        self.errors: dict[str, int] = {}

    def now(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.start

    def begin(self) -> float:
        self.submitted += 1
        self.in_flight += 1
        return self.now()

    def end(self, phase: str, submitted: float, ok: bool, error: str | None, lost: bool) -> Sample:
        """Record a task that ended (``lost``: it never gave a result, so no latency)."""
        self.in_flight -= 1
        latency = None if lost else self.now() - submitted
        sample = Sample(phase, submitted, latency, ok, error)
        self.samples.append(sample)
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1
        return sample

    def of(self, *phases: str) -> list[Sample]:
        return [s for s in self.samples if s.phase in phases]

    @property
    def failed(self) -> int:
        return sum(not s.ok for s in self.samples)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (``q`` in ``[0, 100]``) of ``values``."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def latency_ms(samples: Sequence[Sample]) -> dict[str, float] | None:
    """p50, p95, p99, mean and max of the successful tasks' latencies, in milliseconds."""
    ms = [s.latency * 1000 for s in samples if s.ok and s.latency is not None]
    if not ms:
        return None
    return {
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms),
        "max": max(ms),
    }


def counts(samples: Sequence[Sample]) -> dict[str, Any]:
    """Tasks, how many succeeded, the completion rate, and the errors by message."""
    ok = sum(s.ok for s in samples)
    errors: dict[str, int] = {}
    for s in samples:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    return {
        "tasks": len(samples),
        "succeeded": ok,
        "completion": ok / len(samples) if samples else None,
        "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
    }


def timeline(samples: Sequence[Sample], step: float = 1.0) -> list[dict[str, Any]]:
    """Per ``step`` seconds of the run: tasks finished, tasks per second, and the p50 and p95
    latency (ms) of the successful ones that finished then."""
    done = [s for s in samples if s.finished is not None]
    if not done:
        return []
    buckets: dict[int, list[Sample]] = {}
    for s in done:
        assert s.finished is not None
        buckets.setdefault(int(s.finished // step), []).append(s)
    rows = []
    for b in range(min(buckets), max(buckets) + 1):
        inside = buckets.get(b, [])
        ms = [s.latency * 1000 for s in inside if s.ok and s.latency is not None]
        rows.append(
            {
                "t": b * step,
                "finished": len(inside),
                "per_s": len(inside) / step,
                "p50_ms": percentile(ms, 50) if ms else None,
                "p95_ms": percentile(ms, 95) if ms else None,
            }
        )
    return rows
