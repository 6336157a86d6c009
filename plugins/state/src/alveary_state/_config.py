"""``[plugins.state]``: where the records go and how safely."""

from __future__ import annotations

import attrs
from alveary import validators

SYNCHRONOUS = ("off", "normal", "full", "extra")


@attrs.frozen
class Config:
    """``[plugins.state]``."""

    url: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )
    """The Redis server (``store = "redis"``), as ``redis://host:port/db``."""
    prefix: str = attrs.field(default="alveary", validator=validators.name)
    """The namespace of the Redis keys: orchestrators with the same one share the records."""
    lease: float = attrs.field(default=5.0, validator=validators.non_negative)
    """Seconds of the Redis lease: one orchestrator on a prefix leads, the others stand by
    and take over within about this long after it dies. 0: no lease (one orchestrator)."""
    path: str = attrs.field(default="alveary.db", validator=validators.name)
    """The SQLite file (``store = "sqlite"``), relative to the working directory."""
    synchronous: str = attrs.field(default="full", validator=attrs.validators.in_(SYNCHRONOUS))
    """SQLite's ``synchronous``: ``full`` survives a power cut, ``normal`` a process crash
    only; see the measured cost in the docs."""
    flush_interval: float = attrs.field(default=0.05, validator=validators.positive)
    """Seconds between writes of buffered transitions (a submit never waits for it)."""
    retain_count: int = attrs.field(default=100_000, validator=validators.count)
    """Finished tasks kept; the oldest go first."""
    retain_age: float = attrs.field(default=86_400.0, validator=validators.positive)
    """Seconds a finished task is kept (24 h)."""
    compact_interval: float = attrs.field(default=10.0, validator=validators.positive)
    """Seconds between compactions of what retention drops."""
