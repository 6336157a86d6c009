"""What the durable stores share: the kernel's synchronous reads answered from memory.

Unfinished tasks, idempotency keys and plugin values are loaded at open and kept in step by
every save; saves go on to a ``WriteBehind``. Finished tasks are read from where each store
keeps them (``_stored``), with what is saved but not yet written read from the buffer first.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from alveary import StoreError, Task

from ._writebehind import Batch, Latency, WriteBehind

Report = Callable[[str, dict[str, Any]], None]
"""Receives what a store reports: an event type and its data."""


class Mirrored(abc.ABC):
    """The ``Store`` protocol's reads and saves over a memory mirror and a write-behind
    buffer; a subclass opens, writes and says where finished tasks are."""

    where: str

    def __init__(self, flush_interval: float, report: Report | None) -> None:
        self._active: dict[str, Task] = {}
        self._keys: dict[str, str] = {}
        self._values: dict[tuple[str, str], Any] = {}
        self._buffer: WriteBehind | None = None
        self._flush_interval = flush_interval
        self.report: Report = report or (lambda type, data: None)
        """Where the store says what happens to it (``store.failing``, ...), as events."""
        self.write_latency = Latency()
        """How long each batch write took (``alveary_store_write_seconds`` of the metrics
        plugin): the wait of a durable submit, less the loop's turn."""

    # -- what a subclass provides ---------------------------------------------------------------

    @abc.abstractmethod
    def _stored(self, task_id: str | None) -> Iterable[tuple[str, str]]:
        """``(id, JSON)`` of the written task ``task_id``, or of every written task (None)."""

    @abc.abstractmethod
    def _parse(self, task_id: str, data: str) -> Task | None:
        """A task from its JSON, or None for one that cannot be read (it is skipped)."""

    @abc.abstractmethod
    async def _release(self) -> None:
        """Let go of connections, threads and locks; also after an open that failed."""

    @abc.abstractmethod
    async def _write(self, batch: Batch) -> None:
        """Make ``batch`` durable, or raise (the buffer retries it)."""

    @abc.abstractmethod
    def _say(self, type: str, data: dict[str, Any]) -> None:
        """Report ``type`` with ``data`` and what identifies the store."""

    def _start_writing(self) -> None:
        """Start the write-behind buffer: the last step of a successful ``open``."""
        self._buffer = WriteBehind(
            self._write,
            interval=self._flush_interval,
            report=self._say,
            latency=self.write_latency,
        )
        self._buffer.start()

    # -- the Store protocol ---------------------------------------------------------------------

    def save_task(self, task: Task) -> None:
        if task.state.terminal:
            self._active.pop(task.id, None)
        else:
            self._active[task.id] = task
        self._opened().task(task)

    async def commit(self) -> None:
        await self._opened().commit()

    async def close(self) -> None:
        """Write what is buffered, then release."""
        if self._buffer is not None:
            await self._buffer.close()
            self._buffer = None
        await self._release()

    def get_task(self, task_id: str) -> Task | None:
        found = self._active.get(task_id) or self._opened().pending(task_id)
        if found is not None:
            return found
        for stored_id, data in self._stored(task_id):
            return self._parse(stored_id, data)
        return None

    def tasks(self) -> Iterator[Task]:
        seen = set(self._active)
        yield from self._active.values()
        for task in self._opened().unwritten():
            if task.id not in seen:
                seen.add(task.id)
                yield task
        for task_id, data in self._stored(None):
            if task_id not in seen:
                seen.add(task_id)
                found = self._parse(task_id, data)
                if found is not None:
                    yield found

    def unfinished(self) -> Iterable[Task]:
        return list(self._active.values())

    def claim(self, key: str, task_id: str) -> str | None:
        owner = self._keys.setdefault(key, task_id)
        if owner != task_id:
            return owner
        self._opened().key(key, task_id)
        return None

    def get_value(self, namespace: str, key: str) -> Any:
        return self._values.get((namespace, key))

    def put_value(self, namespace: str, key: str, value: Any) -> None:
        json.dumps(value)  # refuse what cannot be stored now, not in the writer
        if value is None:
            self._values.pop((namespace, key), None)
        else:
            self._values[(namespace, key)] = value
        self._opened().value(namespace, key, value)

    def _opened(self) -> WriteBehind:
        if self._buffer is None:
            raise StoreError(f"{self.where}: the store is not open")
        return self._buffer
