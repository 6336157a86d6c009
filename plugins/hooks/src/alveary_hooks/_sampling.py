"""Sampling for webhooks on high-rate events: keep all, a random share, or at most a rate."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from ._config import Webhook


def sampler(config: Webhook) -> Callable[[], bool] | None:
    """A function saying whether to keep the next event, or None to keep them all."""
    if config.sample == "random":
        share, draw = config.sample_rate, random.random
        return lambda: draw() < share
    if config.sample == "rate":
        return Bucket(config.max_rate).take
    return None


class Bucket:
    """A token bucket: ``rate`` events per second, in bursts of at most ``rate``."""

    __slots__ = ("_at", "_clock", "_rate", "_tokens")

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._tokens = max(rate, 1.0)
        self._clock = clock
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(max(self._rate, 1.0), self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
