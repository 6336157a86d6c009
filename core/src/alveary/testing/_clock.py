"""A clock a test controls: the time the kernel reads, moved by hand."""

from __future__ import annotations

import time


class ManualClock:
    """Pass as ``Orchestrator(config, clock=clock)``: every timestamp, heartbeat age, pool
    backoff, retry delay, queue and attempt deadline is read from it. ``advance`` moves it;
    deadlines that fall due fire at the next tick (``[orchestrator] tick_interval``)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"a clock only moves forward, not by {seconds!r}")
        self.now += seconds
