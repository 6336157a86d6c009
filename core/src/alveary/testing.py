"""Helpers for testing plugins and agents against a real orchestrator, like
``structlog.testing``: no mocks, just a small in-process setup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from ._orchestrator import Orchestrator
from ._records import Event, Task
from .hookspecs import hookimpl


class EventRecorder:
    """A plugin that keeps every event it sees. Pass it in ``plugins=[...]``."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def alveary_event(self, event: Event) -> None:
        self.events.append(event)

    def types(self, task_id: str | None = None) -> list[str]:
        """Event types in order, optionally only those of one task."""
        return [e.type for e in self.events if task_id is None or e.task_id == task_id]


async def echo(task: Task) -> Any:
    """A handler that returns the task's payload."""
    return task.payload


@asynccontextmanager
async def orchestrator(
    config: Mapping[str, Any] | None = None, *plugins: object
) -> AsyncIterator[Orchestrator]:
    """A started orchestrator with ``plugins`` registered directly, a fast tick and no retry
    delay unless ``config`` says otherwise; stopped on exit."""
    data: dict[str, Any] = {
        k: dict(v) if isinstance(v, Mapping) else v for k, v in (config or {}).items()
    }
    settings = data.setdefault("orchestrator", {})
    settings.setdefault("tick_interval", 0.05)
    settings.setdefault("retry_base", 0.0)
    settings.setdefault("shutdown_timeout", 5.0)
    async with Orchestrator.from_config(data, plugins) as orch:
        yield orch
