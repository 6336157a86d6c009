"""Helpers for the workflows tests: an agent handler that does what each task's payload says
and records what ran, so tests can check the order steps ran in; agents running it; the
plugin of an orchestrator."""

from __future__ import annotations

import asyncio
from typing import Any

from alveary import AgentSpec, Orchestrator, PermanentFailure, Task
from alveary_workflows import Workflows


class Script:
    """An agent handler. A payload ``{"step": name, ...}`` is recorded when it starts; with
    ``"fail": true`` it raises (retried), ``"fatal": true`` fails at once, ``"hang": true``
    waits until cancelled; otherwise it returns ``"value"`` (or the payload)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.succeeded: set[str] = set()
        self.cancelled: list[str] = []
        self.violations: list[str] = []
        self.needs: dict[str, frozenset[str]] = {}
        self.host: Any = None
        self._cancels: list[asyncio.Future[Any]] = []
        """Set to the orchestrator for ``"cancel": true``: the task cancels itself through it."""

    async def __call__(self, task: Task) -> Any:
        payload = task.payload
        if not isinstance(payload, dict) or "step" not in payload:
            return payload
        step = payload["step"]
        self.started.append(step)
        missing = self.needs.get(step, frozenset()) - self.succeeded
        if missing:
            self.violations.append(f"{step} started before {sorted(missing)}")
        await asyncio.sleep(0)
        if payload.get("cancel"):
            self._cancels.append(asyncio.ensure_future(self.host.cancel(task.id)))
        if payload.get("hang") or payload.get("cancel"):
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(step)
                raise
        if payload.get("fatal"):
            raise PermanentFailure(f"{step} failed for good")
        if payload.get("fail"):
            raise RuntimeError(f"{step} failed")
        self.succeeded.add(step)
        return payload.get("value", payload)


ENABLED = {"plugins": {"enabled": ["workflows"]}}


async def agents(orch: Orchestrator, script: Script, count: int = 2, **kwargs: Any) -> None:
    for i in range(count):
        spec = AgentSpec(f"a{i}", {"work"}, capacity=4, options={"handler": script}, **kwargs)
        await orch.register(spec)


def plugin(orch: Orchestrator) -> Workflows:
    found = orch.plugins["workflows"]
    assert isinstance(found, Workflows)
    return found
