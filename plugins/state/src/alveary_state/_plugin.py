"""The ``state`` plugin: its settings, and the stores it provides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import alveary
import structlog

from . import _config
from ._sqlite import SQLiteStore

log = structlog.get_logger("alveary.state")


class State:
    """Provides the durable ``sqlite`` store."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self.sqlite = SQLiteStore(
            config.path,
            synchronous=config.synchronous,
            flush_interval=config.flush_interval,
            retain_count=config.retain_count,
            retain_age=config.retain_age,
            compact_interval=config.compact_interval,
        )
        self._orch: alveary.Host | None = None

    @alveary.hookimpl
    def alveary_stores(self) -> Mapping[str, Any]:
        return {"sqlite": self.sqlite}

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        self._orch = orchestrator
        self.sqlite.report = self._report

    def _report(self, type: str, data: dict[str, Any]) -> None:
        if self._orch is not None:
            self._orch.emit(type, data=data)
