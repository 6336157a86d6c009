"""The ``state`` plugin: its settings, and the stores it provides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import alveary
import structlog

from . import _config
from ._redis import RedisStore
from ._sqlite import SQLiteStore

log = structlog.get_logger("alveary.state")


class State:
    """Provides the durable ``sqlite`` and ``redis`` stores (the latter needs ``url``)."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        common: dict[str, Any] = {
            "flush_interval": config.flush_interval,
            "retain_count": config.retain_count,
            "retain_age": config.retain_age,
            "compact_interval": config.compact_interval,
        }
        self.sqlite = SQLiteStore(config.path, synchronous=config.synchronous, **common)
        self.redis = RedisStore(config.url, prefix=config.prefix, lease=config.lease, **common)
        self._orch: alveary.Host | None = None

    @alveary.hookimpl
    def alveary_stores(self) -> Mapping[str, Any]:
        return {"sqlite": self.sqlite, "redis": self.redis}

    @alveary.hookimpl
    def alveary_check_config(self, config: alveary.Config) -> list[str]:
        if config.orchestrator.store == "redis" and not self.config.url:
            return [
                config.source.error(
                    ("plugins", "state", "url"),
                    'store = "redis" needs the server, e.g. url = "redis://127.0.0.1:6379/0"',
                )
            ]
        return []

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        self._orch = orchestrator
        self.sqlite.report = self._report
        self.redis.report = self._report

    def _report(self, type: str, data: dict[str, Any]) -> None:
        if self._orch is not None:
            self._orch.emit(type, data=data)
