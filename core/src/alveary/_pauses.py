"""Time this process spent in the cyclic garbage collector.

A collection runs inside whatever code allocated last. When that is a plugin's hook, the pause
is not the plugin's doing, and a full collection of a large heap can take longer than a hook's
budget: the isolation takes the collector's time off a call's before holding it against the
plugin, so a busy orchestrator does not disable a healthy security plugin.
"""

from __future__ import annotations

import gc
import time
from typing import Any


class Pauses:
    """Seconds spent collecting since ``watch()``, read as ``PAUSES.total``."""

    __slots__ = ("began", "total")

    def __init__(self) -> None:
        self.began = 0.0
        self.total = 0.0


PAUSES = Pauses()


def _track(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        PAUSES.began = time.perf_counter()
    else:
        PAUSES.total += time.perf_counter() - PAUSES.began


def watch() -> None:
    """Count the collector's pauses from now on (once per process, however often called)."""
    if _track not in gc.callbacks:
        gc.callbacks.append(_track)
