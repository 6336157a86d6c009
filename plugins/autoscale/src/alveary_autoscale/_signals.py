"""What the policy reads beyond ``PoolMetrics``: attempt durations and errors per pool, seen
through ``alveary_task_after``, and how much of the host's memory is in use."""

from __future__ import annotations

import math
import sys
from collections import deque
from pathlib import Path

_ALPHA = 0.1
"""Weight of the newest attempt in the moving average of durations."""


class PoolStats:
    """A pool's recent attempts: a moving average and the last 100 durations and results."""

    __slots__ = ("durations", "ewma", "failed", "results")

    def __init__(self, keep: int = 100) -> None:
        self.ewma: float | None = None
        self.durations: deque[float] = deque(maxlen=keep)
        self.results: deque[bool] = deque(maxlen=keep)
        self.failed = 0

    def observe(self, duration: float, ok: bool) -> None:
        """Count one finished attempt; a duration that is not a finite number >= 0 (a clock
        that jumped) counts its result only."""
        if math.isfinite(duration) and duration >= 0:
            old = self.ewma
            self.ewma = duration if old is None else _ALPHA * duration + (1 - _ALPHA) * old
            self.durations.append(duration)
        if len(self.results) == self.results.maxlen and not self.results[0]:
            self.failed -= 1
        self.results.append(ok)
        if not ok:
            self.failed += 1

    @property
    def error_rate(self) -> float | None:
        return self.failed / len(self.results) if self.results else None

    @property
    def p95(self) -> float | None:
        if not self.durations:
            return None
        ordered = sorted(self.durations)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def host_memory() -> float | None:
    """The fraction of the host's memory in use (1 - available / total), or None if unknown.

    Linux: ``/proc/meminfo``; elsewhere psutil when it is installed."""
    if sys.platform.startswith("linux"):
        try:
            fields = {}
            for line in Path("/proc/meminfo").read_text().splitlines():
                name, _, rest = line.partition(":")
                fields[name] = float(rest.split()[0])
            return 1.0 - fields["MemAvailable"] / fields["MemTotal"]
        except (OSError, KeyError, ValueError, IndexError, ZeroDivisionError):
            return None
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    return float(psutil.virtual_memory().percent) / 100.0
