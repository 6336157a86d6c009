"""The event bus: every transition, decision and failure, to hooks and subscribers, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from ._hooks import Hooks
from ._impls import Impl
from ._records import Agent, Event, EventSlots, Task


class _Draft(EventSlots):
    """An event being built: ``Event``'s layout without its frozen ``__setattr__``. ``send``
    stores the fields and then sets ``__class__`` to ``Event``: half the cost of attrs'
    frozen ``__init__`` (one ``object.__setattr__`` per field), or of calling each slot's
    setter, and events are built several times per task. The result is the same frozen
    ``Event``."""

    __slots__ = ()


_MAX_TYPES = 4096
"""Event types counted, and whose listeners are remembered, one by one: plugins may invent
types without end (the rest are counted under ``other``)."""


class _Counts(dict[str, int]):
    """Events by type; a type not seen yet counts 0, so ``counts[type] += 1`` needs no check."""

    __slots__ = ()

    def __missing__(self, type: str) -> int:
        return 0


class _Wants(dict[str, bool]):
    """Event type -> whether anyone wants it, worked out on the first ask."""

    __slots__ = ("_bus",)

    def __init__(self, bus: EventBus) -> None:
        super().__init__()
        self._bus = bus

    def __missing__(self, type: str) -> bool:
        bus = self._bus
        wanted = bool(bus._subscribers) or bool(bus._find(type))
        if type in bus._listeners:  # remembered there, so stable until the next refresh
            self[type] = wanted
        return wanted


class EventBus:
    """Counts events, numbers them and hands them to ``alveary_event`` and to ``events()``
    subscribers.

    ``emit`` is the whole of it. The hot paths (task and agent transitions) do its two steps
    inline, so that an event nobody wants costs two dictionary lookups and no data is built
    for it: ``counts[type] += 1``, then ``send`` only if ``wants[type]``. A plugin with
    ``event_types`` gets only those.
    """

    __slots__ = ("_hooks", "_listeners", "_seq", "_subscribers", "counts", "now", "wants")

    def __init__(self, hooks: Hooks, now: Callable[[], float]) -> None:
        self._hooks = hooks
        self.now = now
        self._seq = 0
        self._subscribers: list[asyncio.Queue[Event | None]] = []
        self._listeners: dict[str, tuple[Impl, ...]] = {}
        """Event type -> the ``alveary_event`` implementations that want it."""
        self.counts: dict[str, int] = _Counts()
        """Events by type since the orchestrator was made, whether or not anyone wanted them
        (at most ``_MAX_TYPES`` types through ``emit``, the rest under ``other``)."""
        self.wants: dict[str, bool] = _Wants(self)
        """Event type -> True when a plugin or a subscriber wants it."""

    def refresh(self) -> None:
        """Forget who wants what (a subscriber came or went, a plugin was disabled)."""
        self._listeners.clear()
        self.wants.clear()

    def _find(self, type: str) -> tuple[Impl, ...]:
        before = self._hooks.impls["alveary_event"]
        found = self._hooks.listeners(type)
        # A plugin disabled meanwhile (its event_types raised) is not remembered as a listener.
        if self._hooks.impls["alveary_event"] is before and len(self._listeners) < _MAX_TYPES:
            self._listeners[type] = found
        return found

    def emit(
        self,
        type: str,
        task: Task | None = None,
        agent: Agent | None = None,
        data: Mapping[str, Any] | None = None,
        to_hooks: bool = True,
    ) -> None:
        """Count the event, and send it to whoever wants it (only to subscribers when not
        ``to_hooks``)."""
        counts = self.counts
        if type in counts or len(counts) < _MAX_TYPES:
            counts[type] += 1
        else:
            counts["other"] += 1
        if self.wants[type] if to_hooks else self._subscribers:
            self.send(type, self.now(), task, agent, data, to_hooks)

    def send(
        self,
        type: str,
        time: float,
        task: Task | None = None,
        agent: Agent | None = None,
        data: Mapping[str, Any] | None = None,
        to_hooks: bool = True,
    ) -> None:
        """Build the event and deliver it, without counting it: the caller counted it and
        found it wanted. ``time`` is when it happened, which a transition has just read."""
        if to_hooks:
            listeners = self._listeners.get(type)
            if listeners is None:
                listeners = self._find(type)
        else:
            listeners = ()
        self._seq = seq = self._seq + 1
        draft = _Draft()
        draft.type = type
        draft.time = time
        draft.seq = seq
        if task is not None:
            draft.task_id = task.id
            draft.agent_id = task.agent_id if agent is None else agent.id
        else:
            draft.task_id = None
            draft.agent_id = None if agent is None else agent.id
        draft.data = {} if data is None else data
        draft.__class__ = Event  # type: ignore[assignment]
        event: Event = draft  # type: ignore[assignment]
        if listeners:
            self._hooks.notify(listeners, (event,))
        if self._subscribers:
            for queue in self._subscribers:
                queue.put_nowait(event)

    def plugin_failed(self, plugin: str, hook: str, error: str, disabled: bool) -> None:
        """Report a plugin's failure; not back through ``alveary_event`` when that hook is
        the one failing, so a broken event hook cannot feed on its own reports."""
        relay = hook != "alveary_event"
        self.emit(
            "plugin.failed", data={"plugin": plugin, "hook": hook, "error": error}, to_hooks=relay
        )
        if disabled:
            self.refresh()
            self.emit("plugin.disabled", data={"plugin": plugin, "reason": error}, to_hooks=relay)

    async def subscribe(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.append(queue)
        self.refresh()
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.remove(queue)
            self.refresh()

    def close(self) -> None:
        """End every subscription."""
        for queue in self._subscribers:
            queue.put_nowait(None)
