"""The ``hooks`` plugin: operators' commands and webhooks on what happens in the orchestrator.

``alveary_event`` is on the kernel's hot path: it looks the event's type up in a cache of the
hooks bound to it and returns when there are none. The others it hands a snapshot of the
event to (a queue append); workers and senders do the rest in the background. Blocking and
critical hooks and the quality gates run in ``alveary_task_before``/``alveary_task_after``,
which the attempt waits for: ``attempt_budget`` makes their budget the attempt's timeout.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import alveary
import httpx
import structlog

from . import _config
from ._config import POINTS
from ._document import Document, of_event, of_point
from ._gates import Gates, workspace
from ._runner import Run
from ._select import Fields, Router, Types
from ._shell import Shell
from ._webhooks import Sender

log = structlog.get_logger("alveary.plugins.hooks")

Sink = tuple[Fields, Callable[[Document], None]]


class Hooks:
    """Shell hooks, quality gates and webhooks on the orchestrator's events."""

    Config = _config.Config
    attempt_budget = True
    """Blocking hooks and gates hold the attempt as long as its timeout allows."""

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self._host: alveary.Host | None = None
        self.shell = Shell(config, self._failed)
        self.gates = Gates(config.gates, self.shell, self._failed)
        self.webhooks = [Sender(w, alveary.__version__, self._undelivered) for w in config.webhooks]
        self._points = {
            point: [hook for hook in self.shell.holding if point in hook.config.on]
            for point in POINTS
        }
        sinks: list[tuple[Types, Sink]] = [
            (Types(hook.config.on), (hook.fields, self.shell.offerer(hook)))
            for hook in self.shell.background
        ]
        sinks += [(Types(s.config.on), (Fields(s.config.match), s.offer)) for s in self.webhooks]
        self._router = Router(sinks)
        self._routes = self._router.cache
        ons = [h.config.on for h in self.shell.background] + [w.config.on for w in self.webhooks]
        self.event_types = Types(pattern for on in ons for pattern in on)
        """What the kernel hands ``alveary_event``: the types some hook or webhook is on."""
        self._client: httpx.AsyncClient | None = None
        self._stats_at = 0.0
        self.overhead = 0.0
        """Seconds spent handing events to hooks on the event's path (matched events only)."""
        self._reported = self._counts()

    def stats(self) -> dict[str, Any]:
        """Counters of every command, gate and webhook, and the time spent on events."""
        return {
            "commands": {h.name: h.counters.snapshot() for h in self.shell.hooks},
            "gates": {name: c.snapshot() for name, c in self.gates.counters.items()},
            "webhooks": {s.name: s.counters.snapshot() for s in self.webhooks},
            "overhead_seconds": round(self.overhead, 6),
        }

    # -- lifecycle -------------------------------------------------------------------------

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        self._host = orchestrator
        names = {w.secret_env for w in self.config.webhooks if w.secret_env is not None}
        missing = sorted(name for name in names if name not in os.environ)
        if missing:
            raise alveary.StartFailed(
                f"webhook secret {', '.join(missing)} is not set in the orchestrator's environment"
            )
        self.shell.start()
        if self.webhooks:
            self._client = httpx.AsyncClient(follow_redirects=False)
            for sender in self.webhooks:
                secret = sender.config.secret_env
                sender.start(self._client, os.environ[secret].encode() if secret else None)
        self._stats_at = time.monotonic()

    @alveary.hookimpl
    async def alveary_shutdown(self) -> None:
        await asyncio.gather(self.shell.close(), *(sender.close() for sender in self.webhooks))
        if self._client is not None:
            await self._client.aclose()

    @alveary.hookimpl
    def alveary_tick(self) -> None:
        if time.monotonic() - self._stats_at >= self.config.stats_interval:
            self._report_stats()

    # -- events: the hot path ------------------------------------------------------------------

    @alveary.hookimpl
    def alveary_event(self, event: alveary.Event) -> None:
        sinks = self._routes.get(event.type)
        if sinks is None:
            sinks = self._router.get(event.type)
        if sinks:
            self._deliver(event, sinks)

    def _deliver(self, event: alveary.Event, sinks: tuple[Sink, ...]) -> None:
        started = time.perf_counter()
        document = of_event(event, self._host)
        for fields, offer in sinks:
            if not fields or fields(document):
                offer(document)
        self.overhead += time.perf_counter() - started

    # -- the attempt's points ------------------------------------------------------------------

    @alveary.hookimpl
    def alveary_task_before(
        self, task: alveary.Task, agent: alveary.Agent
    ) -> Awaitable[None] | None:
        hooks = self._points["task.before"]
        if not hooks:
            return None
        return self._before(hooks, of_point("task.before", task, agent, now=time.time()))

    async def _before(self, hooks: Any, document: Document) -> None:
        reason = await self.shell.hold(hooks, document)
        if reason is not None:
            raise alveary.Rejected(reason)

    @alveary.hookimpl
    def alveary_task_after(
        self, task: alveary.Task, agent: alveary.Agent, outcome: alveary.Outcome
    ) -> Awaitable[alveary.Outcome | None] | None:
        gated = outcome.ok and bool(self.gates)
        if not gated and not self._points["task.after"]:
            return None
        return self._after(task, agent, outcome, gated)

    async def _after(
        self, task: alveary.Task, agent: alveary.Agent, outcome: alveary.Outcome, gated: bool
    ) -> alveary.Outcome | None:
        replaced = None
        if gated:
            document = of_point("task.after", task, agent, outcome, now=time.time())
            verdict = await self.gates.check(document, workspace(self._host, agent))
            if verdict is not None:
                self._emit("hook.gates", document, verdict.data())
                if verdict.failed:
                    replaced = outcome = alveary.Outcome(
                        alveary.TaskState.FAILED, error=verdict.error(), retry=verdict.retry
                    )
        hooks = self._points["task.after"]
        if hooks:
            document = of_point("task.after", task, agent, outcome, now=time.time())
            reason = await self.shell.hold(hooks, document)
            if reason is not None and outcome.ok:
                replaced = alveary.Outcome(alveary.TaskState.FAILED, error=reason)
        return replaced

    # -- reports -------------------------------------------------------------------------------

    def _failed(self, kind: str, name: str, document: Document, result: Run) -> None:
        log.warning(
            f"{kind} failed",
            hook=name,
            trigger=document["type"],
            task=document["task_id"],
            error=result.error,
            output=result.output,
        )
        data = {
            "kind": kind,
            "hook": name,
            "event": document["type"],
            "error": result.error,
            "exit": result.exit,
            "output": result.output,
            "tries": result.tries,
        }
        if not document["type"].startswith("hook."):  # a failure on a failure is only logged
            self._emit("hook.failed", document, data)

    def _undelivered(self, name: str, batch: list[Document], error: str) -> None:
        if all(doc["type"].startswith("hook.") for doc in batch):
            return
        data = {"kind": "webhook", "hook": name, "events": len(batch), "error": error}
        self._emit("hook.failed", batch[0] if len(batch) == 1 else None, data)

    def _emit(self, type: str, document: Document | None, data: dict[str, Any]) -> None:
        if self._host is not None:
            task_id = document["task_id"] if document is not None else None
            agent_id = document["agent_id"] if document is not None else None
            self._host.emit(type, task_id=task_id, agent_id=agent_id, data=data)

    def _counts(self) -> dict[str, Any]:
        stats = self.stats()
        del stats["overhead_seconds"]
        return stats

    def _report_stats(self) -> None:
        """Emit ``hook.stats`` when a counter moved since the last one."""
        self._stats_at = time.monotonic()
        counts = self._counts()
        if counts != self._reported and self._host is not None:
            self._reported = counts
            self._host.emit("hook.stats", data=self.stats())
