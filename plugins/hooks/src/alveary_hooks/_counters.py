"""What each hook did, counted: what the ``hook.stats`` event and ``Hooks.stats()`` show."""

from __future__ import annotations

import attrs


@attrs.define
class Counters:
    """Counts for one command, gate or webhook."""

    delivered: int = 0
    """Runs that succeeded; events a webhook's receiver accepted."""
    failed: int = 0
    """Runs that failed (after their retries); events a webhook could not deliver."""
    dropped: int = 0
    """Events not taken because the queue was full or the plugin was stopping."""
    sampled_out: int = 0
    """Events a webhook's sampling left out."""
    retries: int = 0
    """Runs or requests tried again."""

    def snapshot(self) -> dict[str, int]:
        return attrs.asdict(self)
