"""``Host``: the view of the orchestrator that plugins are given and typed against.

Hooks such as ``alveary_startup(orchestrator)`` receive the running orchestrator; plugins
should use only what this protocol names. It keeps the hook specs free of the kernel's
internals (no import cycle) and tells plugin authors what is theirs to call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._records import (
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

if TYPE_CHECKING:
    from ._components import Runtime, Store
    from ._config import Config
    from ._handle import Metrics, TaskHandle
    from ._verdicts import Approval

T = TypeVar("T")


class Host(Protocol):
    """What a plugin may read and do on the orchestrator that runs it."""

    @property
    def config(self) -> Config:
        """The whole configuration the orchestrator was built from."""

    @property
    def store(self) -> Store:
        """The selected store, for plugin values (``get_value``/``put_value``)."""

    @property
    def plugins(self) -> Mapping[str, object]:
        """Every loaded plugin instance by name, built-ins included."""

    @property
    def runtimes(self) -> Mapping[str, Runtime]:
        """Every runtime by name."""

    @property
    def pools(self) -> Mapping[str, Pool]:
        """The declared pools by name."""

    def now(self) -> float:
        """The orchestrator's clock: seconds since the epoch (controllable in tests)."""

    def agent(self, agent_id: str) -> Agent:
        """The agent with this id or name; raises ``NotFound``."""

    def agents(self) -> list[Agent]:
        """Every registered agent."""

    def get_task(self, task_id: str) -> Task:
        """The task with this id; raises ``NotFound``."""

    def task(self, task_id: str) -> TaskHandle:
        """A handle on an existing task, to wait for it (see ``Orchestrator.task``)."""

    def tasks(self, state: TaskState | None = None) -> list[Task]:
        """Tasks the store retains, optionally only those in ``state``."""

    def waiting(self) -> list[Task]:
        """The tasks waiting in the queue for an agent now, in no particular order; each one's
        ``times["queued"]`` says since when."""

    def unplaceable(self, requires: Iterable[str]) -> str | None:
        """Why no agent, now or later, could take a task that requires these capabilities;
        None when one could (see ``Orchestrator.unplaceable``)."""

    @property
    def stopping(self) -> bool:
        """True once the orchestrator began to stop (see ``Orchestrator.stopping``)."""

    @property
    def standby(self) -> str | None:
        """The orchestrator leading the shared store while this one stands by, else None."""

    def metrics(self) -> Metrics:
        """A snapshot of counts by state, queue length and failures."""

    def pool_metrics(self, pool: str) -> PoolMetrics:
        """What a scaling plugin would see of the pool now; raises ``NotFound``."""

    def emit(
        self,
        type: str,
        *,
        task_id: str | None = None,
        agent_id: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Announce something the plugin did or decided, as an event."""

    def heartbeat(self, agent_id: str, **metrics: float) -> None:
        """Record that an agent is alive, with what it reports."""

    def set_health(self, agent_id: str, status: HealthStatus, reason: str) -> None:
        """Apply a health verdict to an agent now."""

    async def check_health(self, agent_id: str) -> HealthReport | None:
        """Run the health-check hooks on one agent and return the worst report."""

    def claim_health_checks(self, owner: str) -> None:
        """Take over scheduling health checks from the kernel."""

    async def submit(self, spec: TaskSpec, *, credentials: Mapping[str, Any] | None = None) -> Any:
        """Submit a task (see ``Orchestrator.submit``)."""

    async def cancel(self, task_id: str, *, credentials: Mapping[str, Any] | None = None) -> bool:
        """Cancel a task (see ``Orchestrator.cancel``)."""

    async def requeue(
        self, task_id: str, *, credentials: Mapping[str, Any] | None = None
    ) -> TaskHandle:
        """Run a dead or failed task again (see ``Orchestrator.requeue``)."""

    async def resize(
        self, pool: str, size: PoolSize, *, credentials: Mapping[str, Any] | None = None
    ) -> Pool:
        """Set a pool's min and max (see ``Orchestrator.resize``)."""

    async def guard_command(
        self, task: Task, agent: Agent, command: str | Sequence[str], workspace: str | None
    ) -> None:
        """For runtimes: ask the command guards before running a command built from a task
        (see ``Orchestrator.guard_command``)."""

    def approvals(self) -> list[Approval]:
        """Commands tasks wait on for a decision (see ``Orchestrator.approvals``)."""

    async def decide(
        self,
        task_id: str,
        approve: bool,
        note: str = "",
        *,
        credentials: Mapping[str, Any] | None = None,
    ) -> Approval:
        """Approve or reject a command a task waits on (see ``Orchestrator.decide``)."""

    async def authorize(
        self, credentials: Mapping[str, Any] | None, action: str, resource: str
    ) -> Principal:
        """Check an action through the security plugins; raises ``Denied``."""

    async def find_authorized(
        self,
        credentials: Mapping[str, Any] | None,
        action: str,
        find: Callable[[], T],
        resource: Callable[[T], str],
    ) -> T:
        """What ``find`` looks up, once the caller may do ``action`` on it; raises ``Denied``
        or ``NotFound`` (see ``Orchestrator.find_authorized``)."""

    async def drain(
        self,
        agent_id: str,
        timeout: float | None = None,
        *,
        credentials: Mapping[str, Any] | None = None,
    ) -> bool:
        """Stop giving the agent work and wait for its tasks (see ``Orchestrator.drain``)."""

    async def register(
        self,
        spec: AgentSpec,
        *,
        credentials: Mapping[str, Any] | None = None,
        pool: str | None = None,
    ) -> Agent:
        """Register and start an agent (see ``Orchestrator.register``)."""

    async def deregister(
        self,
        agent_id: str,
        *,
        drain: bool = True,
        timeout: float | None = None,
        credentials: Mapping[str, Any] | None = None,
    ) -> None:
        """Remove an agent (see ``Orchestrator.deregister``)."""

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on (see ``Orchestrator.events``)."""
