"""The orchestrator: the public API over the kernel (``_kernel``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any, TypeVar

from . import _config
from ._errors import AlvearyError, FieldError, NotFound, StandingBy
from ._handle import Metrics, TaskHandle
from ._kernel import Kernel
from ._records import (
    ANONYMOUS,
    Agent,
    AgentSpec,
    Event,
    HealthReport,
    Pool,
    PoolMetrics,
    PoolSize,
    Principal,
    Task,
    TaskSpec,
)
from ._states import HealthStatus, TaskState
from ._verdicts import Approval

__all__ = ["Metrics", "Orchestrator", "TaskHandle"]

T = TypeVar("T")


class Orchestrator(Kernel):
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

    def heartbeat(self, agent_id: str, **metrics: float) -> None:
        """Record that the agent is alive, with what it reports (``load``, ``context``, ...)."""
        agent = self.agent(agent_id)
        agent.heartbeat = self.now()
        if metrics:
            agent.metrics.update(metrics)

    def set_health(self, agent_id: str, status: HealthStatus, reason: str) -> None:
        """Apply a health verdict now (health plugins use it between checks): ``unhealthy``
        takes the agent out of routing, ``failed`` removes it and re-queues its work."""
        self._health.apply(self.agent(agent_id), HealthReport(status, reason))

    async def check_health(self, agent_id: str) -> HealthReport | None:
        """Run the ``alveary_health_check`` hooks on one agent now and return the worst
        report (None if every check abstained), without applying it."""
        return await self._health.check(self.agent(agent_id))

    def claim_health_checks(self, owner: str) -> None:
        """Stop the kernel's own sweep (every agent, every ``health_interval``): the plugin
        ``owner`` schedules checks through ``check_health`` from now on."""
        self._health.claimed_by = owner

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
            credentials, "task.cancel", lambda: self.get_task(task_id), _kind
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
            credentials, "task.requeue", lambda: self.get_task(task_id), _kind
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

    async def guard_command(
        self, task: Task, agent: Agent, command: str | Sequence[str], workspace: str | None
    ) -> None:
        """For runtimes, before running a command built from ``task``: return when it may
        run (after an approval, if a guard asks for one); raise ``PermanentFailure`` when a
        guard blocks it or someone rejects it (``alveary_command_check``)."""
        verdict = await self.hooks.command_check(task, agent, command, workspace)
        await self._approvals.enforce(verdict, task, agent, command)

    def approvals(self) -> list[Approval]:
        """The commands tasks wait on for someone to approve or reject, oldest first."""
        return self._approvals.pending()

    async def decide(
        self,
        task_id: str,
        approve: bool,
        note: str = "",
        *,
        credentials: Mapping[str, Any] | None = None,
    ) -> Approval:
        """Approve or reject the command ``task_id`` waits on; checked as ``task.approve``.
        Raises ``NotFound`` if it waits on none."""
        task, principal = await self._gate.check_found(
            credentials, "task.approve", lambda: self.get_task(task_id), _kind
        )
        return self._approvals.decide(task, approve, principal.id, note)

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

    # -- pools and checks ---------------------------------------------------------------------

    async def resize(
        self, pool: str, size: PoolSize, *, credentials: Mapping[str, Any] | None = None
    ) -> Pool:
        """Set a pool's min and max; its desired size is clamped to them and the next tick
        starts or stops agents. Checked as ``pool.resize``; ``NotFound`` for an unknown pool,
        ``FieldError`` for a bad size."""
        found, _ = await self._gate.check_found(
            credentials, "pool.resize", lambda: self._pool(pool), lambda p: p.name
        )
        if size.min < 0:
            raise FieldError("min", f"expected >= 0, got {size.min}")
        if size.max is not None and size.max < size.min:
            raise FieldError("max", f"expected >= min ({size.min}), got {size.max}")
        limit = self.config.orchestrator.max_pool_size
        for key, value in (("min", size.min), ("max", size.max)):
            if value is not None and value > limit:
                raise FieldError(key, f"expected at most max_pool_size ({limit}), got {value}")
        found.size, found.desired = size, size.clamp(found.desired)
        self._events.emit("pool.resized", data={"pool": pool, "min": size.min, "max": size.max})
        return found

    def pool_metrics(self, pool: str) -> PoolMetrics:
        """What a scaling plugin would see of the pool now; raises ``NotFound``."""
        return self._pools.metrics(self._pool(pool), self.waiting())

    def _pool(self, name: str) -> Pool:
        found = self._pools.by_name.get(name)
        if found is None:
            raise NotFound(f"no pool {name!r}")
        return found

    async def authorize(
        self, credentials: Mapping[str, Any] | None, action: str, resource: str
    ) -> Principal:
        """Check an action the kernel does not do itself (a plugin serving reads checks
        ``task.read`` ...) through the security plugins like the kernel's own; raises
        ``Denied``."""
        return await self._gate.check(credentials, action, resource)

    async def find_authorized(
        self,
        credentials: Mapping[str, Any] | None,
        action: str,
        find: Callable[[], T],
        resource: Callable[[T], str],
    ) -> T:
        """What ``find`` looks up (a task, an agent), once the caller may do ``action`` on it,
        named by ``resource``; raises ``Denied``, and ``NotFound`` only to a caller who
        authenticates: one who cannot learns nothing, not even which ids exist (the kernel's
        own actions on one task or agent work this way)."""
        found, _ = await self._gate.check_found(credentials, action, find, resource)
        return found

    # -- observing ----------------------------------------------------------------------------

    def emit(
        self,
        type: str,
        *,
        task_id: str | None = None,
        agent_id: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Announce something a plugin did or decided (``autoscale.decision``, ...), through
        ``alveary_event`` and to ``events()`` subscribers like the kernel's own events."""
        task = self.get_task(task_id) if task_id is not None else None
        agent = self.agent(agent_id) if agent_id is not None else None
        self._events.emit(type, task=task, agent=agent, data=data)

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the orchestrator stops::

        async for event in orch.events():
            print(event.type, event.task_id)
        """
        return self._events.subscribe()


def _name(agent: Agent) -> str:
    return agent.name


def _kind(task: Task) -> str:
    return task.spec.kind
