"""A per-agent circuit breaker over attempt outcomes: closed -> open -> half-open -> closed."""

from __future__ import annotations

import enum
from collections import deque

from ._config import Config


class BreakerState(str, enum.Enum):
    """Closed lets work through; open keeps the agent out of routing; half-open lets one
    probe task through and decides on its outcome."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Breaker:
    """Counts an agent's recent attempts and trips when they fail too much.

    It opens once ``min_requests`` attempts are in the window and either the last
    ``breaker_failures`` failed in a row or the failure ratio reaches ``breaker_ratio``. After
    ``breaker_cooldown`` it is half-open: the next attempt is the probe; success closes it
    with a fresh window, failure opens it again.
    """

    __slots__ = ("_config", "consecutive", "failures", "opened_at", "outcomes", "probe", "state")

    def __init__(self, config: Config) -> None:
        self._config = config
        self.state = BreakerState.CLOSED
        self.outcomes: deque[bool] = deque(maxlen=config.window)
        self.failures = 0
        self.consecutive = 0
        self.opened_at = 0.0
        self.probe: str | None = None

    @property
    def ratio(self) -> float:
        """Failed attempts in the window, as a fraction (0 with none)."""
        return self.failures / len(self.outcomes) if self.outcomes else 0.0

    @property
    def judged(self) -> bool:
        """True once the window holds enough attempts to judge the agent."""
        return len(self.outcomes) >= self._config.min_requests

    def record(self, ok: bool, task_id: str, now: float) -> str | None:
        """Count one attempt's outcome; return why the state changed, or None."""
        if self.state is BreakerState.OPEN:
            return None  # work that started before it opened says nothing new
        if self.state is BreakerState.HALF_OPEN:
            if task_id != self.probe:
                return None
            if ok:
                self._reset()
                return "probe succeeded"
            self._open(now)
            return "probe failed"
        if len(self.outcomes) == self.outcomes.maxlen and not self.outcomes[0]:
            self.failures -= 1
        self.outcomes.append(ok)
        if ok:
            self.consecutive = 0
            return None
        self.failures += 1
        self.consecutive += 1
        if not self.judged:
            return None
        config = self._config
        if self.consecutive >= config.breaker_failures:
            self._open(now)
            return f"{self.consecutive} failed attempts in a row"
        if self.ratio >= config.breaker_ratio:
            failed, total = self.failures, len(self.outcomes)
            self._open(now)
            return f"{failed} of the last {total} attempts failed"
        return None

    def poll(self, now: float) -> bool:
        """Move an open breaker whose cool-down has passed to half-open; True if it moved."""
        if (
            self.state is BreakerState.OPEN
            and now - self.opened_at >= self._config.breaker_cooldown
        ):
            self.state = BreakerState.HALF_OPEN
            self.probe = None
            return True
        return False

    def _open(self, now: float) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = now
        self.probe = None

    def _reset(self) -> None:
        self.state = BreakerState.CLOSED
        self.outcomes.clear()
        self.failures = 0
        self.consecutive = 0
        self.probe = None
