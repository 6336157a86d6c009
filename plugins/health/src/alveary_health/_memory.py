"""The leak watch: an agent's resident memory over a window, and where it comes from.

An agent's memory is known when it reports ``rss`` (bytes, its current resident memory; not a
peak such as ``ru_maxrss``, which never falls and on Linux starts at the parent's peak) in its
heartbeat metrics (``orch.heartbeat(agent_id, rss=...)``), or when its runtime has a
``pid(agent)`` method naming the process that runs it, which psutil then reads. In-process
agents have neither: they share the orchestrator's memory, so there is nothing of their own to
watch.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import alveary
import psutil  # type: ignore[import-untyped,unused-ignore]

MIB = 1024 * 1024


class ProcessMemory:
    """Reads the resident memory of the processes runtimes name, keeping one
    ``psutil.Process`` per agent so that a reused pid is noticed rather than misread."""

    def __init__(self) -> None:
        self._procs: dict[str, psutil.Process] = {}

    def rss(self, agent: alveary.Agent, runtime: Any) -> float | None:
        """The agent's resident memory in bytes, or None when it is not known."""
        reported = agent.metrics.get("rss")
        if reported is not None:
            return float(reported)
        pid_of = getattr(runtime, "pid", None)
        if pid_of is None:
            return None
        pid = pid_of(agent)
        if pid is None:
            return None
        proc = self._procs.get(agent.id)
        try:
            if proc is None or proc.pid != pid:
                proc = self._procs[agent.id] = psutil.Process(pid)
            return float(proc.memory_info().rss)
        except psutil.Error:  # gone, or not ours to read: the checks will say so
            self._procs.pop(agent.id, None)
            return None

    def forget(self, agent_id: str) -> None:
        self._procs.pop(agent_id, None)


class LeakWatch:
    """Memory samples of one agent over ``window`` seconds, and the verdict on them."""

    __slots__ = ("leaking", "samples")

    def __init__(self) -> None:
        self.samples: deque[tuple[float, float]] = deque()
        self.leaking = False

    def add(self, now: float, rss: float, window: float) -> None:
        self.samples.append((now, rss))
        while self.samples and now - self.samples[0][0] > window:
            self.samples.popleft()

    def growth(self) -> tuple[float, float, float] | None:
        """(lowest, latest, latest / lowest) over the window, with three samples or more."""
        if len(self.samples) < 3:
            return None
        lowest = min(rss for _, rss in self.samples)
        latest = self.samples[-1][1]
        if lowest <= 0:
            return None
        return lowest, latest, latest / lowest

    def leaks(self, ratio: float, min_growth_mib: float) -> tuple[float, float, float] | None:
        """The growth, if it is a leak: above ``ratio`` and by ``min_growth_mib`` MiB at least."""
        found = self.growth()
        if found is None:
            return None
        lowest, latest, factor = found
        if factor > ratio and latest - lowest >= min_growth_mib * MIB:
            return found
        return None
