"""The orchestrator's API for overseeing what runs: agents' health, pools, the commands
tasks wait on for approval, security checks of plugins' own actions, and events.

``Orchestrator`` adds agents and tasks on top of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ._errors import FieldError, NotFound
from ._kernel import Kernel
from ._records import Agent, Event, HealthReport, Pool, PoolMetrics, PoolSize, Principal, Task
from ._states import HealthStatus
from ._verdicts import Approval

T = TypeVar("T")


class Oversight(Kernel):
    """Health, pools, approvals, checks and events (see ``Orchestrator``)."""

    # -- health -------------------------------------------------------------------------------

    def heartbeat(self, agent_id: str, **metrics: float) -> None:
        """Record that the agent is alive, with what it reports (``load``, ``context``, ...)."""
        agent = self._registry.get(agent_id)
        agent.heartbeat = self.now()
        if metrics:
            agent.metrics.update(metrics)

    def set_health(self, agent_id: str, status: HealthStatus, reason: str) -> None:
        """Apply a health verdict now (health plugins use it between checks): ``unhealthy``
        takes the agent out of routing, ``failed`` removes it and re-queues its work."""
        self._health.apply(self._registry.get(agent_id), HealthReport(status, reason))

    async def check_health(self, agent_id: str) -> HealthReport | None:
        """Run the ``alveary_health_check`` hooks on one agent now and return the worst
        report (None if every check abstained), without applying it."""
        return await self._health.check(self._registry.get(agent_id))

    def claim_health_checks(self, owner: str) -> None:
        """Stop the kernel's own sweep (every agent, every ``health_interval``): the plugin
        ``owner`` schedules checks through ``check_health`` from now on."""
        self._health.claimed_by = owner

    # -- approvals ----------------------------------------------------------------------------

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
            credentials, "task.approve", lambda: self._book.get(task_id), kind
        )
        return self._approvals.decide(task, approve, principal.id, note)

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
        task = self._book.get(task_id) if task_id is not None else None
        agent = self._registry.get(agent_id) if agent_id is not None else None
        self._events.emit(type, task=task, agent=agent, data=data)

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the orchestrator stops::

        async for event in orch.events():
            print(event.type, event.task_id)
        """
        return self._events.subscribe()


def kind(task: Task) -> str:
    """A task as a security resource: its kind."""
    return task.spec.kind
