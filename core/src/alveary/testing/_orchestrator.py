"""A started orchestrator for a test, and the simplest handler."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from .._orchestrator import Orchestrator
from .._records import Task


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
