"""``[plugins.workflows]``."""

from __future__ import annotations

import attrs
from alveary import validators


@attrs.frozen
class Config:
    """``[plugins.workflows]``."""

    max_items: int = attrs.field(default=10_000, validator=validators.count)
    """The most items a fan-out step may map over; a longer list fails the step."""
    keep: int = attrs.field(default=1000, validator=validators.count)
    """Finished runs kept, readable by id; past it the oldest is forgotten, in memory and in
    the store, so a long-running orchestrator does not grow with every run."""
    resume: bool = True
    """Resume unfinished runs found in a durable store when the orchestrator starts, with no
    credentials (leave it off behind a security plugin and call ``resume`` with some)."""
