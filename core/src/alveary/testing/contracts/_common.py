"""What the contract suites share: finding the component a plugin provides, and putting it
in a real orchestrator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar, TypeVar

import pytest

from ..._catalog import BUILTINS
from ..._orchestrator import Orchestrator
from .._orchestrator import orchestrator

T = TypeVar("T")


class Contract:
    """Base of the suites: ``hook`` is the hook by which plugins provide the component."""

    hook: ClassVar[str]
    component: ClassVar[str | None] = None
    """The name of the component under test, when the plugin provides several."""
    deadline: ClassVar[float] = 60.0
    """Seconds a test may take: a component that hangs fails instead of blocking the run."""

    def provided(self, plugin: object) -> tuple[str, Any]:
        """The name and the object of the component ``plugin`` provides."""
        provide = getattr(plugin, self.hook, None)
        assert provide is not None, f"{plugin!r} does not implement {self.hook}"
        found: Mapping[str, Any] = provide()
        if self.component is not None:
            assert self.component in found, f"{self.hook} gives {sorted(found)}"
            return self.component, found[self.component]
        assert len(found) == 1, f"{self.hook} gives {sorted(found)}: set `component`"
        [(name, obj)] = found.items()
        return name, obj

    @asynccontextmanager
    async def running(
        self, plugin: object, config: Mapping[str, Any], *plugins: object
    ) -> AsyncIterator[Orchestrator]:
        """A started orchestrator on ``config`` with ``plugin`` and ``plugins`` registered,
        and the kernel's built-in of the same component name as ``plugin``'s left out."""
        name, _ = self.provided(plugin)
        disabled = {"disabled": [b for b in BUILTINS if b == name]}
        async with orchestrator({**config, "plugins": disabled}, plugin, *plugins) as orch:
            yield orch


def run(test: Callable[[], Coroutine[Any, Any, T]], deadline: float = 60.0) -> T:
    """Run an async test body in an event loop of its own, so the suites need no pytest
    plugin. A body still running after ``deadline`` seconds fails the test, and one that
    ignores its cancellation then is left behind instead of hanging the run."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(test())
    try:
        done, _ = loop.run_until_complete(asyncio.wait({task}, timeout=deadline))
        if not done:
            task.cancel()
            done, _ = loop.run_until_complete(asyncio.wait({task}, timeout=1.0))
            if not done:
                pytest.fail(f"still running after {deadline:g} s, and ignores cancellation")
            pytest.fail(f"still running after {deadline:g} s")
        return task.result()
    finally:
        if task.done():
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
