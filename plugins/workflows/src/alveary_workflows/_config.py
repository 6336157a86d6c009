"""``[plugins.workflows]``."""

from __future__ import annotations

import attrs
from alveary import validators


@attrs.frozen
class Config:
    """``[plugins.workflows]``."""

    max_items: int = attrs.field(default=10_000, validator=validators.count)
    """The most items a fan-out step may map over; a longer list fails the step."""
    resume: bool = True
    """Resume unfinished runs found in a durable store when the orchestrator starts, with no
    credentials (leave it off behind a security plugin and call ``resume`` with some)."""
