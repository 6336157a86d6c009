"""Every alveary event as a JSON line in a file: an example of a third-party plugin.

Enable it in ``alveary.toml``::

    [plugins]
    enabled = ["eventlog"]

    [plugins.eventlog]
    path = "events.jsonl"
    types = ["task", "plugin"]

Each line is one event: ``{"type": "task.succeeded", "time": ..., "seq": ..., "task_id": ...,
"agent_id": ..., "data": {...}}``. The file is appended to, never truncated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

import alveary
import attrs
from alveary.validators import positive

__all__ = ["EventLog"]


class EventLog:
    """Appends the events whose type ``types`` keeps to the file at ``path``.

    ``alveary_event`` runs on the hot path, so it only appends to a buffer. The buffer goes to
    one writer thread when it holds ``flush_every`` events, at every tick and at shutdown: lines
    keep their order and the event loop never waits on the disk. Shutdown waits for the writer,
    so every event up to ``orchestrator.stopped`` is in the file once ``stop()`` returns.
    """

    @attrs.frozen
    class Config:
        """``[plugins.eventlog]``."""

        path: str = "alveary-events.jsonl"
        """The file to append to, relative to the working directory; its directory is created
        if missing."""

        types: tuple[str, ...] = ()
        """Event types to keep, by dotted prefix: ``"task"`` keeps ``task.succeeded`` and every
        other ``task.*`` event, ``"task.dead"`` only that one. Empty (the default) keeps all."""

        flush_every: int = attrs.field(default=100, validator=positive)
        """Hand the buffer to the writer as soon as it holds this many events, without waiting
        for the next tick."""

    def __init__(self, config: EventLog.Config) -> None:
        self.config = config
        self.path = Path(config.path)
        names = [t.rstrip(".") for t in config.types]
        self._exact = frozenset(names)
        self._prefixes = tuple(f"{name}." for name in names)
        self._buffer: list[alveary.Event] = []
        self._file: TextIO | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._error: Exception | None = None
        self.dropped = 0
        """Events that arrived while no file was open (start-up failed, or after shutdown)."""

    # -- hooks --------------------------------------------------------------------------------

    @alveary.hookimpl
    def alveary_startup(self) -> None:
        """Open the file and start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alveary-eventlog")

    @alveary.hookimpl
    def alveary_event(self, event: alveary.Event) -> None:
        """Buffer the event if ``types`` keeps it; never touches the file."""
        if not self._keeps(event.type):
            return
        if self._writer is None:
            self.dropped += 1
            return
        self._buffer.append(event)
        if len(self._buffer) >= self.config.flush_every:
            self._flush()

    @alveary.hookimpl
    def alveary_tick(self) -> None:
        """Hand what is buffered to the writer; report a write that failed since the last
        tick (the kernel turns the exception into a ``plugin.failed`` event)."""
        self._raise_write_error()
        if self._buffer:
            self._flush()

    @alveary.hookimpl
    def alveary_shutdown(self) -> None:
        """Write what is left, wait for the writer and close the file."""
        self._flush()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
        self._raise_write_error()

    # -- helpers ------------------------------------------------------------------------------

    def _keeps(self, event_type: str) -> bool:
        return not self._exact or event_type in self._exact or event_type.startswith(self._prefixes)

    def _flush(self) -> None:
        """Give the buffer to the writer thread."""
        if self._writer is None or not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        self._writer.submit(self._write, batch)

    def _write(self, batch: Sequence[alveary.Event]) -> None:
        """In the writer thread: serialise the batch and append it in one write."""
        try:
            assert self._file is not None  # closed only after the writer finished
            self._file.write("".join(to_line(event) for event in batch))
            self._file.flush()
        except Exception as exc:
            self._error = exc

    def _raise_write_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise OSError(f"could not write events to {self.path}: {error}") from error


def to_line(event: alveary.Event) -> str:
    """One event as a JSON line. Values JSON cannot represent are written as their ``str()``.

    ``attrs.asdict`` because the kernel has no public converter; events are attrs classes.
    """
    return json.dumps(attrs.asdict(event), default=str, separators=(",", ":")) + "\n"
