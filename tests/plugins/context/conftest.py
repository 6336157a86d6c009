"""Helpers for the context plugin's tests: a handler holding tasks until released, and a
store that keeps plugin values in a JSON file, so what a plugin saves outlives the
orchestrator that saved it (tasks stay in memory: these tests leave none unfinished)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import alveary
import pytest
from alveary import Task


class Gate:
    """An agent handler: each task waits until ``open()``, then returns its payload."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def open(self) -> None:
        self.event.set()

    async def __call__(self, task: Task) -> Any:
        await self.event.wait()
        return task.payload


class FileStore:
    """A durable store of plugin values in one JSON file."""

    durable = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tasks: dict[str, Task] = {}
        self._keys: dict[str, str] = {}

    def _values(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def save_task(self, task: Task) -> None:
        self._tasks[task.id] = task

    def get_task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def tasks(self) -> Iterable[Task]:
        return list(self._tasks.values())

    def unfinished(self) -> Iterable[Task]:
        return [t for t in self._tasks.values() if not t.state.terminal]

    def claim(self, key: str, task_id: str) -> str | None:
        owner = self._keys.setdefault(key, task_id)
        return None if owner == task_id else owner

    def get_value(self, namespace: str, key: str) -> Any:
        return self._values().get(f"{namespace}/{key}")

    def put_value(self, namespace: str, key: str, value: Any) -> None:
        values = self._values()
        values[f"{namespace}/{key}"] = value
        self.path.write_text(json.dumps(values))

    async def add_value(self, namespace: str, key: str, delta: float) -> float:
        value = float(self.get_value(namespace, key) or 0) + delta
        self.put_value(namespace, key, value)
        return value

    async def open(self) -> None:
        pass

    async def commit(self) -> None:
        pass

    async def close(self) -> None:
        pass


class FileStorePlugin:
    """Provides the ``file`` store."""

    name = "filestore"

    def __init__(self, path: Path) -> None:
        self.store = FileStore(path)

    @alveary.hookimpl
    def alveary_stores(self) -> Mapping[str, FileStore]:
        return {"file": self.store}


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def file_store() -> type[FileStorePlugin]:
    return FileStorePlugin
