"""Containers an earlier run left (the orchestrator was killed, or crashed): at start-up,
every container of this owner that another run made is removed, before any agent of this
run starts. The labels are the record: nothing is kept in the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import alveary
import structlog

from ._engine import Engine, EngineError
from ._spec import AGENT, INSTANCE, owned

log = structlog.get_logger("alveary.container")


class Leftovers:
    """Finds and removes the containers of ``owner`` whose run is not ``instance``."""

    def __init__(self, engine: Engine, owner: str, instance: str) -> None:
        self.engine = engine
        self.owner = owner
        self.instance = instance
        self._removing: asyncio.Future[None] | None = None

    def start(self, emit: Callable[..., Any]) -> None:
        """At ``alveary_startup``: remove them in the background (``cleared`` waits)."""
        self._removing = asyncio.ensure_future(self._remove(emit))

    async def cleared(self) -> None:
        """Before an agent starts: wait until an earlier run's containers are gone, so a new
        agent never works beside an old one in the same workspace."""
        if self._removing is not None:
            await asyncio.shield(self._removing)

    async def _remove(self, emit: Callable[..., Any]) -> None:
        try:
            found = await self.engine.call(self.engine.find, owned(self.owner))
        except EngineError as exc:
            log.warning("cannot look for left-over containers", error=str(exc))
            return
        left = [entry for entry in found if entry.labels.get(INSTANCE) != self.instance]
        results = await asyncio.gather(
            *(self.engine.call(self.engine.remove, entry.id) for entry in left),
            return_exceptions=True,
        )
        for entry, result in zip(left, results, strict=True):
            agent = entry.labels.get(AGENT, "?")
            if isinstance(result, BaseException):
                log.warning("cannot remove a left-over container", container=entry.name,
                            error=str(result))  # fmt: skip
                continue
            report = {"agent": agent, "container": entry.name, "state": entry.status}
            log.warning("removed a container a dead orchestrator left", **report)
            with contextlib.suppress(alveary.AlvearyError):
                emit("container.leftover_removed", data=report)
