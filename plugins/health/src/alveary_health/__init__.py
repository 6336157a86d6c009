"""alveary-health: heartbeats with an adaptive TTL, rate-capped active checks, per-agent
circuit breakers, recovery of failed agents and a memory-leak watch, for alveary."""

from __future__ import annotations

from ._breaker import Breaker, BreakerState
from ._config import Config
from ._plugin import Health
from ._schedule import paced_interval

__all__ = ["Breaker", "BreakerState", "Config", "Health", "paced_interval"]
