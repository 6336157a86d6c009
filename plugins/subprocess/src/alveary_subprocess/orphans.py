"""Agents an orchestrator that died left running (SIGKILL, a crash, a power cut of the
terminal): each runtime records its agents' processes in the store, and the next start on
that store stops what a dead run left, before starting agents of its own.

A recorded process is only killed while it is still the very process that was recorded:
its id and its start time (``/proc/<pid>/stat``) must both match, so a process that merely
reuses the id is left alone. Without ``/proc`` (not Linux) nothing can be verified and
nothing is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import alveary
import structlog

from .process import signal_group

log = structlog.get_logger("alveary.subprocess")

Entry = dict[str, Any]
"""One recorded agent: ``pid``, ``pgid``, ``started`` (its start time), ``orchestrator``
(the pid of the orchestrator that started it), and whatever its runtime adds."""

GRACE = 2.0
"""How long a left-over agent has between SIGTERM and SIGKILL."""

_KEY = "agents"
_POLL = 0.02


def started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot: ``/proc/<pid>/stat`` field
    22), or None if it is not running: no such process, a zombie, or no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its end.
    fields = data[data.rindex(b")") + 2 :].split()
    return None if fields[0] in (b"Z", b"X") else int(fields[19])


def process_record(pid: int) -> Entry | None:
    """What to record for a process just started as the leader of its own group, or None
    if it is already gone (or cannot be verified later)."""
    start = started(pid)
    if start is None:
        return None
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return None
    return {"pid": pid, "pgid": pgid, "started": start, "orchestrator": os.getpid()}


def is_recorded(entry: Mapping[str, Any]) -> bool:
    """Is the recorded process still running, and still the one that was recorded?"""
    pid, start = entry.get("pid"), entry.get("started")
    return isinstance(pid, int) and isinstance(start, int) and pid > 0 and started(pid) == start


async def stop_recorded(entry: Mapping[str, Any], grace: float = GRACE) -> bool:
    """If the recorded process is still the one recorded, SIGTERM its process group, give
    it up to ``grace`` seconds, then SIGKILL what is left of the group. True if it was
    there to stop."""
    pgid = entry.get("pgid")
    if not is_recorded(entry) or not isinstance(pgid, int) or pgid <= 1:
        return False
    signal_group(pgid, signal.SIGTERM)
    for _ in range(max(1, round(grace / _POLL))):  # not our child: nothing to wait on
        if not is_recorded(entry):
            break
        await asyncio.sleep(_POLL)
    signal_group(pgid, signal.SIGKILL)
    return True


class Orphans:
    """A runtime's record of its running agents under its ``namespace`` of a durable store,
    and, at start-up, the stopping of the agents a dead run left there. With a store that is
    not durable it does nothing: nothing it recorded would be read again."""

    def __init__(
        self,
        namespace: str,
        stop: Callable[[str, Entry], Awaitable[Mapping[str, Any] | None]],
    ) -> None:
        self.namespace = namespace
        self._stop = stop
        """Stops one left-over agent; returns what to report, or None if it was not there."""
        self._store: alveary.Store | None = None
        self._mine: dict[str, Entry] = {}
        self._left: dict[str, Entry] = {}
        self._stopping: asyncio.Future[None] | None = None

    def open(self, host: alveary.Host) -> None:
        """At ``alveary_startup``: read what an earlier run recorded and start stopping the
        agents of a dead one in the background (``cleared`` waits for it)."""
        store = host.store
        if not store.durable:
            return
        self._store = store
        recorded = store.get_value(self.namespace, _KEY)
        if not isinstance(recorded, dict):
            return
        me = os.getpid()
        self._left = {
            str(name): entry
            for name, entry in recorded.items()
            if isinstance(entry, dict) and entry.get("orchestrator") != me
        }
        if self._left:
            self._stopping = asyncio.ensure_future(self._stop_left(host))

    async def cleared(self) -> None:
        """Before an agent starts: wait until a dead run's agents are stopped, so a new one
        never works beside an old one in the same workspace."""
        if self._stopping is not None:
            await asyncio.shield(self._stopping)

    def add(self, name: str, entry: Entry | None) -> None:
        """An agent's process started (``entry``: its ``process_record``, None if already gone)."""
        if entry is not None and self._store is not None:
            self._mine[name] = entry
            self._save()

    def remove(self, name: str) -> None:
        """The agent's process was stopped: forget it."""
        if self._mine.pop(name, None) is not None:
            self._save()

    async def _stop_left(self, host: alveary.Host) -> None:
        left = list(self._left.items())
        try:
            reports = await asyncio.gather(
                *(self._stop(name, entry) for name, entry in left), return_exceptions=True
            )
        finally:
            self._left = {}
            self._save()
        for (name, _), report in zip(left, reports, strict=True):
            if isinstance(report, BaseException):
                log.warning("cannot stop a left-over agent", agent=name, error=repr(report))
            elif report is not None:
                log.warning("stopped an agent a dead orchestrator left", agent=name, **report)
                with contextlib.suppress(alveary.AlvearyError):
                    host.emit(f"{self.namespace}.orphan_stopped", data={"agent": name, **report})

    def _save(self) -> None:
        if self._store is not None:
            self._store.put_value(self.namespace, _KEY, {**self._left, **self._mine} or None)
