"""The component protocols: runtimes, stores and strategies that plugins provide by name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._records import Agent, AgentSpec, Task

if TYPE_CHECKING:
    from ._routing import Candidates


@runtime_checkable
class Runtime(Protocol):
    """Where agents live: starts them, runs tasks on them, stops them.

    ``execute`` is awaited in its own asyncio task (from Python 3.12 started eagerly: up to its
    first wait where the attempt is started); the kernel cancels that task on timeout,
    cancellation or agent loss, so a runtime releases what it holds (kills the process, ...)
    when it sees ``CancelledError``.
    Whatever ``execute`` returns is the task's value; an exception fails the attempt
    (``alveary.PermanentFailure`` without retries).

    A runtime whose agents come to the orchestrator on their own (remote agents that connect)
    has a true ``joins`` attribute: the kernel then starts none of its pools' agents and stops
    none to shrink them. Such a pool's ``min`` is how many agents it expects and ``max`` how
    many it admits; an agent joins it through ``register(spec, pool=...)``.
    """

    async def start(self, agent: Agent) -> None:
        """Bring the agent up; raise to refuse it (registration then fails)."""

    async def execute(self, agent: Agent, task: Task) -> Any:
        """Run one attempt of ``task`` on ``agent`` and return its value."""

    async def stop(self, agent: Agent) -> None:
        """Take the agent down; called once, after its work finished or was re-queued."""


@runtime_checkable
class Store(Protocol):
    """Where task records, idempotency keys and plugin values persist.

    Reads and ``save_task`` are synchronous because the kernel calls them on every transition
    of the hot path: a durable store keeps what it needs in memory and writes behind, from a
    thread or task of its own. ``commit`` is the durability point: ``submit`` awaits it, so a
    submit that returned survives a crash; transitions saved since the last commit may be
    lost, which makes execution after a crash at-least-once. On start the kernel opens the
    store and re-queues its unfinished tasks. A store may also have a ``where`` string
    (a file, a URL without its password) that ``alveary run`` shows.
    """

    durable: bool

    async def open(self) -> None:
        """Connect and load, once, before anything else; raise ``StoreError`` with one line
        saying what is wrong (a missing directory, a corrupt file, a server that is down)."""

    def save_task(self, task: Task) -> None:
        """Record the task's current state (insert or update); may be buffered."""

    async def commit(self) -> None:
        """Return once everything saved before the call is durable. Concurrent callers
        should share one write; a store that is not durable returns at once."""

    def get_task(self, task_id: str) -> Task | None:
        """The task with that id, or None if unknown (or no longer retained)."""

    def tasks(self) -> Iterable[Task]:
        """Every task the store retains."""

    def unfinished(self) -> Iterable[Task]:
        """Tasks not in a terminal state, for recovery at start-up."""

    def claim(self, key: str, task_id: str) -> str | None:
        """Bind an idempotency key to ``task_id`` unless it is bound already; return the
        task id it was already bound to, or None if this call bound it."""

    def get_value(self, namespace: str, key: str) -> Any:
        """A plugin's value saved under ``namespace``/``key``, or None. Plugins keep what
        should survive a restart here (learned profiles, counters), JSON-able data only."""

    def put_value(self, namespace: str, key: str, value: Any) -> None:
        """Save a plugin's JSON-able value under ``namespace``/``key`` (None deletes it)."""

    async def add_value(self, namespace: str, key: str, delta: float) -> float:
        """Add ``delta`` to the number under ``namespace``/``key`` (missing counts as 0)
        atomically, even against other processes sharing the store; return the new value."""

    async def close(self) -> None:
        """Flush and release; called once at shutdown."""


@runtime_checkable
class Strategy(Protocol):
    """Picks one agent for a task among the candidates, or None to leave it queued.

    It decides how much of the fleet to look at: ``candidates.sample(k)`` costs O(k) however
    many agents there are, iterating costs O(n); ``candidates.score(agent)`` is the weighted
    sum of the ``alveary_route_score`` hooks. The kernel reserves the agent it returns, after
    checking it is a candidate.
    """

    def select(self, task: Task, candidates: Candidates) -> Agent | None:
        """Return the chosen candidate, or None."""


def validate_spec(runtime: Runtime, spec: AgentSpec) -> None:
    """Let a runtime check an agent spec's options before anything starts.

    Runtimes may define ``validate(spec)`` raising ``ValueError`` with what is wrong; ``alveary
    check`` reports it against the config line.
    """
    validate = getattr(runtime, "validate", None)
    if validate is not None:
        validate(spec)
