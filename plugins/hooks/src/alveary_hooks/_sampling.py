"""Sampling for webhooks on high-rate events: keep all, a random share, at most a rate, or
fewer as the webhook's queue fills (adaptive)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from ._config import Webhook


def sampler(config: Webhook, backlog: Callable[[], int]) -> Callable[[], bool] | None:
    """A function saying whether to keep the next event, or None to keep them all.
    ``backlog`` is how many events the webhook holds now (adaptive sampling reads it)."""
    if config.sample == "random":
        share, draw = config.sample_rate, random.random
        return lambda: draw() < share
    if config.sample == "rate":
        return Bucket(config.max_rate).take
    if config.sample == "adaptive":
        return Adaptive(config.queue, config.sample_rate, backlog).keep
    return None


class Adaptive:
    """Keeps every event while the queue is at most half full; past that, a share falling
    linearly to ``least`` at a full queue. A receiver that slows down gets a thinner stream
    instead of every event until the queue is full and none after."""

    __slots__ = ("_backlog", "_draw", "_half", "_least")

    def __init__(self, queue: int, least: float, backlog: Callable[[], int]) -> None:
        self._half = queue / 2
        self._least = least
        self._backlog = backlog
        self._draw = random.random

    def share(self) -> float:
        """The share of events kept now."""
        over = (self._backlog() - self._half) / self._half
        return 1.0 if over <= 0 else max(self._least, 1.0 - over * (1.0 - self._least))

    def keep(self) -> bool:
        over = self._backlog() > self._half
        return not over or self._draw() < self.share()


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
