"""Waiting in tests on a condition or an event: a bound on waiting, never a timing assertion.
Timeouts are generous so that a loaded machine does not fail a test; a wait that runs out
fails with what it waited for."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from .._records import Event
from ..hookspecs import hookimpl


async def until(
    predicate: Callable[[], object], timeout: float = 10.0, *, interval: float = 0.01
) -> None:
    """Return once ``predicate()`` is true, checking every ``interval`` seconds; raise
    ``AssertionError`` naming the predicate if it is still false after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"not true after {timeout:g} s: {_describe(predicate)}")
        await asyncio.sleep(interval)


def _describe(predicate: Callable[[], object]) -> str:
    """The predicate's source line (what a test wrote: ``lambda: len(agents) == 3``)."""
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return repr(predicate)


class EventRecorder:
    """A plugin that keeps every event it sees, and can wait for one. Pass it in
    ``plugins=[...]``.

    Events match on their type and on ``task_id``, ``agent_id`` or any key of their data:
    ``await recorder.wait_for("agent.health", agent_id=agent.id, to="unhealthy")``.
    """

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._waiting: list[tuple[str, dict[str, Any], asyncio.Future[Event]]] = []

    @hookimpl
    def alveary_event(self, event: Event) -> None:
        self.events.append(event)
        for type, match, future in self._waiting:
            if not future.done() and _matches(event, type, match):
                future.set_result(event)

    def types(self, task_id: str | None = None) -> list[str]:
        """Event types in order, optionally only those of one task."""
        return [e.type for e in self.events if task_id is None or e.task_id == task_id]

    def of(self, type: str, **match: Any) -> list[Event]:
        """The events seen so far of ``type`` that match ``match``, in order."""
        return [e for e in self.events if _matches(e, type, match)]

    async def wait_for(self, type: str, *, timeout: float = 10.0, **match: Any) -> Event:
        """The first event of ``type`` that matches ``match``, seen already or to come;
        ``AssertionError`` saying what was seen if none comes within ``timeout`` seconds."""
        for event in self.events:
            if _matches(event, type, match):
                return event
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        entry = (type, match, future)
        self._waiting.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            wanted = ", ".join([repr(type), *(f"{k}={v!r}" for k, v in match.items())])
            seen = [e.type for e in self.events[-20:]]
            raise AssertionError(
                f"no event {wanted} after {timeout:g} s; the last ones: {seen}"
            ) from None
        finally:
            self._waiting.remove(entry)


def _matches(event: Event, type: str, match: dict[str, Any]) -> bool:
    if event.type != type:
        return False
    for key, value in match.items():
        if key == "task_id":
            found = event.task_id
        elif key == "agent_id":
            found = event.agent_id
        else:
            found = event.data.get(key, _MISSING)
        if found != value:
            return False
    return True


_MISSING = object()
