"""The ``memory`` store: task records and idempotency keys in this process."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._records import Task
from ..hookspecs import hookimpl


class MemoryStore:
    """Keeps every unfinished task and the newest ``retain`` finished ones. Not durable: an
    orchestrator that stops loses what it held."""

    durable = False

    def __init__(self, retain: int) -> None:
        self._retain = retain
        self._active: dict[str, Task] = {}
        self._finished: OrderedDict[str, Task] = OrderedDict()
        self._keys: dict[str, str] = {}
        self._values: dict[tuple[str, str], Any] = {}

    async def open(self) -> None:
        pass

    def save_task(self, task: Task) -> None:
        if task.state.terminal:
            self._active.pop(task.id, None)
            self._finished[task.id] = task
            if len(self._finished) > self._retain:
                old_id, old = self._finished.popitem(last=False)
                key = old.spec.idempotency_key
                if key is not None and self._keys.get(key) == old_id:
                    del self._keys[key]
        else:
            self._active[task.id] = task

    async def commit(self) -> None:
        pass

    def get_task(self, task_id: str) -> Task | None:
        return self._active.get(task_id) or self._finished.get(task_id)

    def tasks(self) -> Iterable[Task]:
        yield from self._active.values()
        yield from self._finished.values()

    def unfinished(self) -> Iterable[Task]:
        return list(self._active.values())

    def claim(self, key: str, task_id: str) -> str | None:
        owner = self._keys.setdefault(key, task_id)
        return None if owner == task_id else owner

    def get_value(self, namespace: str, key: str) -> Any:
        return self._values.get((namespace, key))

    def put_value(self, namespace: str, key: str, value: Any) -> None:
        if value is None:
            self._values.pop((namespace, key), None)
        else:
            self._values[(namespace, key)] = value

    async def add_value(self, namespace: str, key: str, delta: float) -> float:
        value = float(self._values.get((namespace, key)) or 0) + delta
        self._values[(namespace, key)] = value
        return value

    async def close(self) -> None:
        self._active.clear()


class MemoryStorePlugin:
    """Provides the ``memory`` store."""

    @attrs.frozen
    class Config:
        retain: int = 100_000
        """Finished tasks kept for inspection; the oldest go first."""

    def __init__(self, config: MemoryStorePlugin.Config) -> None:
        self.store = MemoryStore(config.retain)

    @hookimpl
    def alveary_stores(self) -> Mapping[str, MemoryStore]:
        return {"memory": self.store}
