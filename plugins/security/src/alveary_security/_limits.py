"""Token buckets: requests per principal, failed authentications per client address."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from alveary import Denied


class Limited(Denied):
    """Denied because a rate limit is spent; ``retry_after`` is how many seconds until the
    next request would pass (a gateway sends it as ``Retry-After`` with a 429)."""

    def __init__(self, reason: str, retry_after: float, *, plugin: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(f"{reason}; retry after {math.ceil(retry_after)} s", plugin=plugin)


class Buckets:
    """One token bucket per key: ``capacity`` tokens, refilled at ``rate`` per second. At
    most ``keys`` buckets are kept; past that, the one used longest ago is dropped (a fresh
    bucket is full, so dropping one only ever forgives)."""

    def __init__(
        self,
        rate: float,
        capacity: int,
        keys: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.capacity = float(capacity)
        self.keys = keys
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token; 0 when it has one now. Takes nothing."""
        tokens = self._tokens(key, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0 if there was one, else the seconds to wait for it."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            return (1 - tokens) / self.rate
        buckets = self._buckets
        buckets.pop(key, None)  # re-insert: the dict's order is the order of use
        if len(buckets) >= self.keys:
            del buckets[next(iter(buckets))]
        buckets[key] = (tokens - 1, now)
        return 0.0

    def _tokens(self, key: str, now: float) -> float:
        found = self._buckets.get(key)
        if found is None:
            return self.capacity
        tokens, then = found
        return min(self.capacity, tokens + (now - then) * self.rate)
