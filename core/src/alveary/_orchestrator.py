"""The orchestrator: the public API over the kernel (``_kernel``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

from . import _config
from ._errors import AlvearyError, StandingBy
from ._handle import Metrics, TaskHandle
from ._oversight import Oversight, kind
from ._records import (
    ANONYMOUS,
    Agent,
    AgentSpec,
    Task,
    TaskSpec,
)
from ._states import TaskState

__all__ = ["Metrics", "Orchestrator", "TaskHandle"]


class Orchestrator(Oversight):
    """Registers agents, routes tasks to them, and sees every task to one terminal state.

    Build one with ``from_file`` or ``from_config`` and use it as an async context manager::

        async with Orchestrator.from_config({"plugins": {"enabled": []}}) as orch:
            await orch.register(AgentSpec("a1", {"echo"}, options={"handler": echo}))
            outcome = await (await orch.submit(TaskSpec("echo", requires={"echo"}))).result()

    Every action takes optional ``credentials``; once a security plugin is enabled they are
    checked (``alveary.Denied`` if refused), else everyone is ``anonymous`` and allowed.
    """

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str] | None = None, plugins: Sequence[object] = ()
    ) -> Orchestrator:
        """Read ``path`` (default: ``./alveary.toml``, else ``[tool.alveary]`` in
        ``./pyproject.toml``)."""
        return cls(_config.load(None if path is None else FsPath(path)), plugins)

    @classmethod
    def from_config(
        cls, data: Mapping[str, Any] | None = None, plugins: Sequence[object] = ()
    ) -> Orchestrator:
        """Build from a mapping shaped like ``alveary.toml``; ``plugins`` are plugin objects
        to register directly, after the enabled ones (handy in tests)."""
        return cls(_config.parse(data or {}), plugins)

    async def __aenter__(self) -> Orchestrator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- agents -------------------------------------------------------------------------------

    async def register(
        self,
        spec: AgentSpec,
        *,
        credentials: Mapping[str, Any] | None = None,
        pool: str | None = None,
    ) -> Agent:
        """Start an agent through its runtime and make it ready for work.

        Raises ``Denied`` or ``Rejected`` if refused, ``StartFailed`` if its runtime cannot
        start it (or takes longer than ``start_timeout``), ``ValueError`` if the name is taken
        or the runtime unknown.
        """
        if self._book.closing:
            raise AlvearyError("the orchestrator is stopping")
        principal = await self._gate.check(credentials, "agent.register", spec.name)
        return await self._members.register(spec, principal, pool)

    async def deregister(
        self,
        agent_id: str,
        *,
        drain: bool = True,
        timeout: float | None = None,
        credentials: Mapping[str, Any] | None = None,
    ) -> None:
        """Remove an agent. With ``drain`` (default) its in-flight tasks finish first, for at
        most ``timeout`` seconds; whatever still runs then is re-queued without spending an
        attempt."""
        agent, _ = await self._gate.check_found(
            credentials, "agent.deregister", lambda: self.agent(agent_id), _name
        )
        await self._members.remove(agent, "deregistered", drain=drain, timeout=timeout)

    async def drain(
        self,
        agent_id: str,
        timeout: float | None = None,
        *,
        credentials: Mapping[str, Any] | None = None,
    ) -> bool:
        """Stop giving the agent work and wait until its in-flight tasks finish. Returns
        False if ``timeout`` passed first (the agent stays draining)."""
        agent, _ = await self._gate.check_found(
            credentials, "agent.drain", lambda: self.agent(agent_id), _name
        )
        return await self._members.drain(agent, timeout)

    def agent(self, agent_id: str) -> Agent:
        """The agent with this id or name; raises ``NotFound``."""
        return self._registry.get(agent_id)

    def agents(self) -> list[Agent]:
        """Every registered agent."""
        return list(self._registry.by_id.values())

    # -- tasks --------------------------------------------------------------------------------

    async def submit(
        self, spec: TaskSpec, *, credentials: Mapping[str, Any] | None = None
    ) -> TaskHandle:
        """Accept a task and route it, or queue it until an agent can take it.

        Goes through the security plugins (if any) and ``alveary_task_validate``. A spec
        whose ``idempotency_key`` was seen returns the existing task's handle instead.
        """
        self._check_running()
        hooks, principal = self.hooks, ANONYMOUS
        if hooks.has_security:  # (closed gates included): no coroutines to await otherwise
            principal = await self._gate.check(credentials, "task.submit", spec.kind)
        if hooks.has_task_validate:
            await hooks.task_validate(spec, principal)
        task = Task(self._new_id(), spec, submitted=self.now(), principal=principal.id)
        existing = None
        if spec.idempotency_key is not None:
            owner = self.store.claim(spec.idempotency_key, task.id)
            if owner is not None:
                existing = self._book.active.get(owner) or self.store.get_task(owner)
        if existing is None:
            self._submitted += 1
            self._book.add(task)
            self._dispatch.place(task)
        if self.store.durable:  # a submit that returned survives a crash
            await self.store.commit()
        return TaskHandle(self, existing or task)

    async def cancel(self, task_id: str, *, credentials: Mapping[str, Any] | None = None) -> bool:
        """Cancel a task wherever it is; False if it had already finished."""
        task, _ = await self._gate.check_found(
            credentials, "task.cancel", lambda: self.get_task(task_id), kind
        )
        if task.state.terminal:
            return False
        attempt = self._attempts.running.get(task.id)
        if attempt is not None:
            self._attempts.interrupt(attempt, "cancelled", count=False)
            return True
        if task.state is TaskState.QUEUED:
            self._dispatch.queue.discard()
        self._book.fail_now(task, TaskState.CANCELLED, "cancelled")
        return True

    async def requeue(
        self, task_id: str, *, credentials: Mapping[str, Any] | None = None
    ) -> TaskHandle:
        """Run a ``dead`` or ``failed`` task again, with a fresh attempt budget: the way out
        of the dead-letter list, ``tasks(TaskState.DEAD)``. Checked as ``task.requeue``."""
        self._check_running()
        task, _ = await self._gate.check_found(
            credentials, "task.requeue", lambda: self.get_task(task_id), kind
        )
        if task.state not in (TaskState.DEAD, TaskState.FAILED):
            raise AlvearyError(
                f"task {task_id} is {task.state.value}; only dead or failed tasks are re-queued"
            )
        self._book.add(task, how="requeued")
        self._dispatch.place(task)
        if self.store.durable:
            await self.store.commit()
        return TaskHandle(self, task)

    def get_task(self, task_id: str) -> Task:
        """The task with this id, running or finished; raises ``NotFound``."""
        return self._book.get(task_id)

    def task(self, task_id: str) -> TaskHandle:
        """A handle on an existing task, to wait for it."""
        return TaskHandle(self, self.get_task(task_id))

    def tasks(self, state: TaskState | None = None) -> list[Task]:
        """Tasks the store retains, optionally only those in ``state``."""
        return [t for t in self.store.tasks() if state is None or t.state is state]

    @property
    def stopping(self) -> bool:
        """True from the moment ``stop`` begins: a runtime asked to stop an agent then knows
        the whole orchestrator is going away, not only that agent."""
        return self._book.closing

    @property
    def standby(self) -> str | None:
        """The orchestrator that leads the shared store while this one stands by, else None."""
        return self._keeper.standby

    def _check_running(self) -> None:
        if self._keeper.standby is not None:
            raise StandingBy(self._keeper.standby)
        if not self._running or self._book.closing:
            raise AlvearyError("the orchestrator is not running")


def _name(agent: Agent) -> str:
    return agent.name
