"""The orchestrator: registry, routing, queueing, dispatch, retries, pools and the tick loop."""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import attrs
import structlog

from . import _config
from ._assemble import assemble
from ._components import Runtime, Store, Strategy
from ._config import Config
from ._errors import AlvearyError, Denied, NotFound, PermanentFailure, Rejected
from ._queue import WaitQueue
from ._records import (
    ANONYMOUS,
    Agent,
    AgentSpec,
    AgentState,
    Event,
    HealthReport,
    HealthStatus,
    Outcome,
    Pool,
    PoolMetrics,
    Principal,
    Task,
    TaskSpec,
    TaskState,
)
from ._routing import Candidates, Index, eligible

log = structlog.get_logger("alveary")


class StartFailed(AlvearyError):
    """An agent's runtime could not start it."""


@attrs.frozen
class Metrics:
    """A snapshot of the orchestrator: counts by state, queue length, work in flight."""

    agents: Mapping[str, int]
    tasks: Mapping[str, int]
    queued: int
    in_flight: int
    submitted: int
    retries: int
    plugin_failures: Mapping[str, int]
    disabled_plugins: tuple[str, ...]
    uptime: float


class TaskHandle:
    """What ``submit`` returns: the task's id and a way to wait for its outcome."""

    __slots__ = ("_orch", "task")

    def __init__(self, orch: Orchestrator, task: Task) -> None:
        self._orch = orch
        self.task = task

    @property
    def id(self) -> str:
        return self.task.id

    def done(self) -> bool:
        """True once the task is in a terminal state."""
        return self.task.state.terminal

    async def result(self, timeout: float | None = None) -> Outcome:
        """Wait for the task's final ``Outcome`` (its state, value or error, agent, attempts).

        Never raises for a failed task: look at ``outcome.state``. Raises ``TimeoutError`` if
        ``timeout`` seconds pass first; the task goes on.
        """
        if self.task.outcome is not None and self.task.state.terminal:
            return self.task.outcome
        # A future per caller (not one shared and shielded): cancelling or timing out one
        # wait leaves the others alone, with far fewer objects alive per waiting task.
        waiter = self._orch._waiter(self.task.id)
        try:
            if timeout is None:
                return await waiter
            return await asyncio.wait_for(waiter, timeout)
        except BaseException:
            self._orch._unwait(self.task.id, waiter)
            raise

    async def cancel(self) -> bool:
        """Cancel the task; False if it had already finished."""
        return await self._orch.cancel(self.task.id)

    def __repr__(self) -> str:
        return f"<TaskHandle {self.task.id} {self.task.spec.kind} {self.task.state.value}>"


class Orchestrator:
    """Registers agents, routes tasks to them, and sees every task to one terminal state.

    Build one with ``from_file`` or ``from_config`` and use it as an async context manager::

        async with Orchestrator.from_config({"plugins": {"enabled": []}}) as orch:
            await orch.register(AgentSpec("a1", {"echo"}, options={"handler": echo}))
            outcome = await (await orch.submit(TaskSpec("echo", requires={"echo"}))).result()
    """

    def __init__(self, config: Config, plugins: Sequence[object] = ()) -> None:
        """Load and check the plugins ``config`` enables (plus plugin objects given
        directly); raises ``PluginError`` or ``ConfigError`` listing every problem."""
        self.config = config
        parts = assemble(config, plugins)
        self.plugins: dict[str, object] = dict(parts.plugins)
        self.hooks = parts.hooks
        self.hooks.on_failure = self._plugin_failed
        self.runtimes: dict[str, Runtime] = dict(parts.runtimes)
        self.store: Store = parts.store
        self.strategy: Strategy = parts.strategy

        self._rng = random.Random()
        self._prefix = os.urandom(4).hex()
        self._counter = 0
        self._seq = 0
        self._agents: dict[str, Agent] = {}
        self._names: dict[str, str] = {}
        self._index = Index()
        self._queue = WaitQueue()
        self._active: dict[str, Task] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._interrupts: dict[str, tuple[str, bool]] = {}
        self._waiters: dict[str, list[asyncio.Future[Outcome]]] = {}
        self._drained: dict[str, asyncio.Event] = {}
        self._subscribers: list[asyncio.Queue[Event | None]] = []
        self._counts: Counter[TaskState] = Counter()
        self._submitted = 0
        self._retries = 0
        self.pools: dict[str, Pool] = {}
        self._started = 0.0
        self._tick_task: asyncio.Task[None] | None = None
        self._last_health = 0.0
        self.health_checks_by: str | None = None
        """The plugin that schedules health checks instead of the kernel, if any."""
        self._closing = False
        self._running_flag = False
        self._chores: set[asyncio.Future[Any]] = set()
        self._removing: dict[str, asyncio.Future[None]] = {}

    # -- construction -------------------------------------------------------------------------

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

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Run ``alveary_startup``, recover the store's unfinished tasks, start the pools and
        the tick loop."""
        if self._running_flag:
            return
        self._running_flag = True
        self._started = time.time()
        await self.hooks.startup(self)
        for task in self.store.unfinished():
            self._recover(task)
        for pool_config in self.config.pools:
            size = pool_config.size
            self.pools[pool_config.name] = Pool(
                pool_config.name, pool_config.agent_spec(pool_config.name), size, size.min
            )
        await self._reconcile_pools()
        self._tick_task = asyncio.get_running_loop().create_task(self._tick_loop())
        self._emit("orchestrator.started", data={"plugins": list(self.plugins)})

    async def stop(self, timeout: float | None = None) -> None:
        """Shut down gracefully: stop the tick loop, drain every agent (waiting up to
        ``timeout``, default ``[orchestrator] shutdown_timeout``), stop them, and run
        ``alveary_shutdown``. With a store that is not durable, tasks still waiting are
        cancelled; with a durable one they stay for the next start."""
        if not self._running_flag or self._closing:
            return
        self._closing = True
        if self._tick_task is not None:
            self._tick_task.cancel()
            await asyncio.gather(self._tick_task, return_exceptions=True)
        timeout = self.config.orchestrator.shutdown_timeout if timeout is None else timeout
        agents = list(self._agents.values())
        await asyncio.gather(
            *(self._remove(a, "shutdown", drain=True, timeout=timeout) for a in agents),
            return_exceptions=True,
        )
        if not self.store.durable:
            for task in list(self._active.values()):
                self._finish(
                    task,
                    Outcome(
                        TaskState.CANCELLED, error="orchestrator stopped", attempts=task.attempts
                    ),
                )
        for runner in list(self._running.values()):
            runner.cancel()
        while self._chores:
            await asyncio.gather(*self._chores, return_exceptions=True)
        await self.hooks.drain_background()
        self._emit("orchestrator.stopped")
        await self.hooks.shutdown(self)
        await self.hooks.drain_background()
        self.store.close()
        for queue in self._subscribers:
            queue.put_nowait(None)
        self._running_flag = False

    # -- agents -------------------------------------------------------------------------------

    async def register(
        self,
        spec: AgentSpec,
        *,
        credentials: Mapping[str, Any] | None = None,
        pool: str | None = None,
    ) -> Agent:
        """Start an agent through its runtime and make it ready for work.

        Goes through ``alveary_authenticate``/``alveary_authorize`` (if any plugin implements
        them), then ``alveary_agent_validate``; raises ``Rejected``/``Denied`` if refused,
        ``StartFailed`` if its runtime cannot start it, ``ValueError`` if the name is taken.
        """
        if self._closing:
            raise AlvearyError("the orchestrator is stopping")
        principal = await self._principal(credentials, "agent.register", spec.name)
        if spec.name in self._names:
            raise ValueError(f"an agent named {spec.name!r} is already registered")
        runtime = self.runtimes.get(spec.runtime)
        if runtime is None:
            raise ValueError(f"agent {spec.name!r}: {_one_of(spec.runtime, self.runtimes)}")
        spec = await self.hooks.agent_validate(spec, principal)
        agent = Agent(self._new_id(), spec, pool=pool, heartbeat=time.time())
        self._agents[agent.id] = agent
        self._names[spec.name] = agent.id
        self._emit(
            "agent.starting",
            agent=agent,
            data={"name": spec.name, "runtime": spec.runtime, "pool": pool},
        )
        try:
            await runtime.start(agent)
        except Exception as exc:
            self._agents.pop(agent.id, None)
            self._names.pop(spec.name, None)
            agent.state = AgentState.FAILED
            self._emit("agent.failed", agent=agent, data={"reason": f"start failed: {exc}"})
            raise StartFailed(
                f"agent {spec.name!r}: runtime {spec.runtime!r} could not start it: {exc}"
            ) from exc
        self._set_agent_state(agent, AgentState.READY)
        self.hooks.agent_registered(agent)
        self._pump(agent.spec.capabilities)
        return agent

    async def deregister(
        self, agent_id: str, *, drain: bool = True, timeout: float | None = None
    ) -> None:
        """Remove an agent. With ``drain`` (default) its in-flight tasks finish first, for at
        most ``timeout`` seconds; whatever is still running then is re-queued without
        spending an attempt."""
        await self._remove(self.agent(agent_id), "deregistered", drain=drain, timeout=timeout)

    async def drain(self, agent_id: str, timeout: float | None = None) -> bool:
        """Stop giving the agent work and wait until its in-flight tasks finish. Returns
        False if ``timeout`` passed first (the agent stays draining)."""
        agent = self.agent(agent_id)
        if agent.state in (AgentState.READY, AgentState.BUSY, AgentState.UNHEALTHY):
            self._set_agent_state(agent, AgentState.DRAINING)
        if agent.in_flight == 0:
            return True
        event = self._drained.setdefault(agent.id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def heartbeat(self, agent_id: str, **metrics: float) -> None:
        """Record that the agent is alive, with what it reports (``load``, ``context``, ...)."""
        agent = self.agent(agent_id)
        agent.heartbeat = time.time()
        if metrics:
            agent.metrics.update(metrics)

    def set_health(self, agent_id: str, status: HealthStatus, reason: str) -> None:
        """Apply a health verdict now (health plugins use it between checks): ``unhealthy``
        takes the agent out of routing, ``failed`` removes it and re-queues its work."""
        self._apply_health(self.agent(agent_id), HealthReport(status, reason))

    async def check_health(self, agent_id: str) -> HealthReport | None:
        """Run the ``alveary_health_check`` hooks on one agent now and return the worst
        report (None if every check abstained), without applying it. For a plugin that
        schedules checks itself (see ``claim_health_checks``) and applies its own verdicts."""
        agent = self.agent(agent_id)
        if not self.hooks.has_health:
            return None
        return await self.hooks.health_check(agent)

    def claim_health_checks(self, owner: str) -> None:
        """Stop the kernel's own sweep (every agent, every ``health_interval``): the plugin
        ``owner`` schedules checks through ``check_health`` from now on, for example at a
        rate that stays bounded however many agents there are."""
        self.health_checks_by = owner

    def agent(self, agent_id: str) -> Agent:
        """The agent with this id or name; raises ``NotFound``."""
        agent = self._agents.get(agent_id) or self._agents.get(self._names.get(agent_id, ""))
        if agent is None:
            raise NotFound(f"no agent {agent_id!r}")
        return agent

    def agents(self) -> list[Agent]:
        """Every registered agent."""
        return list(self._agents.values())

    # -- tasks --------------------------------------------------------------------------------

    async def submit(
        self, spec: TaskSpec, *, credentials: Mapping[str, Any] | None = None
    ) -> TaskHandle:
        """Accept a task and route it, or queue it until an agent can take it.

        Goes through authentication and authorization (if implemented) and
        ``alveary_task_validate``. A spec whose ``idempotency_key`` was seen returns the
        existing task's handle instead of creating another.
        """
        if not self._running_flag or self._closing:
            raise AlvearyError("the orchestrator is not running")
        principal = ANONYMOUS
        if self.hooks.has_authn or self.hooks.has_authz:
            principal = await self._principal(credentials, "task.submit", spec.kind)
        await self.hooks.task_validate(spec, principal)
        task = Task(self._new_id(), spec, submitted=time.time(), principal=principal.id)
        if spec.idempotency_key is not None:
            existing = self.store.claim(spec.idempotency_key, task.id)
            if existing is not None:
                found = self._active.get(existing) or self.store.get_task(existing)
                if found is not None:
                    return TaskHandle(self, found)
        self._submitted += 1
        self._active[task.id] = task
        self._counts[TaskState.PENDING] += 1
        self._transition(task, TaskState.PENDING)
        self._place(task)
        return TaskHandle(self, task)

    async def cancel(self, task_id: str) -> bool:
        """Cancel a task wherever it is; False if it had already finished."""
        task = self.get_task(task_id)
        if task.state.terminal:
            return False
        if task.state in (TaskState.ASSIGNED, TaskState.RUNNING) and task.id in self._running:
            if task.id in self._interrupts:  # already interrupted (timeout, agent leaving)
                self._interrupts[task.id] = ("cancelled", False)
            else:
                self._interrupt(task, "cancelled", count=False)
            return True
        if task.state is TaskState.QUEUED:
            self._queue.discard()
        self._finish(task, Outcome(TaskState.CANCELLED, error="cancelled", attempts=task.attempts))
        return True

    def get_task(self, task_id: str) -> Task:
        """The task with this id, running or finished; raises ``NotFound``."""
        task = self._active.get(task_id) or self.store.get_task(task_id)
        if task is None:
            raise NotFound(f"no task {task_id!r}")
        return task

    def task(self, task_id: str) -> TaskHandle:
        """A handle on an existing task, to wait for it."""
        return TaskHandle(self, self.get_task(task_id))

    def tasks(self, state: TaskState | None = None) -> list[Task]:
        """Tasks the store retains, optionally only those in ``state``."""
        found: Iterable[Task] = self.store.tasks()
        return [t for t in found if state is None or t.state is state]

    # -- observing ----------------------------------------------------------------------------

    def metrics(self) -> Metrics:
        """A snapshot of counts by state, queue length and failures."""
        agents: Counter[str] = Counter(a.state.value for a in self._agents.values())
        return Metrics(
            agents=dict(agents),
            tasks={s.value: n for s, n in self._counts.items() if n},
            queued=self._queue.size,
            in_flight=len(self._running),
            submitted=self._submitted,
            retries=self._retries,
            plugin_failures=dict(self.hooks.failures),
            disabled_plugins=tuple(sorted(self.hooks.disabled)),
            uptime=time.time() - self._started if self._started else 0.0,
        )

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
        self._emit(type, task=task, agent=agent, data=data)

    async def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the orchestrator stops::

        async for event in orch.events():
            print(event.type, event.task_id)
        """
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.remove(queue)

    # -- internals: events and states ---------------------------------------------------------

    def _new_id(self) -> str:
        self._counter += 1
        return f"{self._prefix}-{self._counter}"

    def _emit(
        self,
        type: str,
        task: Task | None = None,
        agent: Agent | None = None,
        data: Mapping[str, Any] | None = None,
        to_hooks: bool = True,
    ) -> None:
        if not (self._subscribers or self.hooks.has_events):
            return
        self._seq += 1
        event = Event(
            type,
            time.time(),
            self._seq,
            task.id if task is not None else None,
            agent.id if agent is not None else (task.agent_id if task is not None else None),
            data or {},
        )
        if to_hooks and self.hooks.has_events:
            self.hooks.event(event)
        for queue in self._subscribers:
            queue.put_nowait(event)

    def _plugin_failed(self, plugin: str, hook: str, error: str, disabled: bool) -> None:
        relay = hook != "alveary_event"
        self._emit(
            "plugin.failed", data={"plugin": plugin, "hook": hook, "error": error}, to_hooks=relay
        )
        if disabled:
            self._emit("plugin.disabled", data={"plugin": plugin, "reason": error}, to_hooks=relay)

    def _transition(
        self, task: Task, state: TaskState, data: Mapping[str, Any] | None = None
    ) -> None:
        self._counts[task.state] -= 1
        self._counts[state] += 1
        task.state = state
        task.times[state.value] = time.time()
        self.store.save_task(task)
        self._emit("task." + state.value, task=task, data=data)

    def _set_agent_state(self, agent: Agent, state: AgentState, reason: str = "") -> None:
        old = agent.state
        if old is state:
            return
        agent.state = state
        if state is AgentState.READY:
            self._index.add(agent)
        elif old is AgentState.READY:
            self._index.discard(agent)
        self._emit(
            "agent." + state.value,
            agent=agent,
            data={"from": old.value, "reason": reason} if reason else {"from": old.value},
        )

    # -- internals: routing and dispatch ------------------------------------------------------

    def _route(self, task: Task) -> Agent | None:
        bucket, exact = self._index.bucket(task.spec.requires)
        if not bucket:
            return None
        hooks = self.hooks
        candidates = Candidates(
            task,
            bucket,
            exact,
            self._rng,
            hooks.route_score if hooks.has_scorers else None,
            self.config.routing.sample,
        )
        if hooks.has_filters:
            hooks.route_filter(task, candidates)
        agent = self.strategy.select(task, candidates)
        if agent is None:
            return None
        if not eligible(agent, task):
            log.error(
                "strategy picked an ineligible agent",
                strategy=self.config.orchestrator.strategy,
                agent=agent.name,
                task=task.id,
            )
            return None
        return agent

    def _place(self, task: Task) -> None:
        """Dispatch ``task`` now if an agent can take it and nothing like it waits; else queue."""
        if not self._queue.waiting(task.spec.requires):
            agent = self._route(task)
            if agent is not None:
                self._assign(task, agent)
                return
        self._queue.push(task)
        self._transition(task, TaskState.QUEUED)

    def _pump(self, capabilities: frozenset[str] | None) -> None:
        """Capacity appeared for agents with ``capabilities`` (None: anywhere): route waiting
        tasks, best priority first, until no head can be placed."""
        if not self._queue.size or self._closing:
            return
        progress = True
        while progress and self._queue.size:
            progress = False
            for key, task in self._queue.heads(capabilities):
                agent = self._route(task)
                if agent is not None:
                    self._queue.pop(key)
                    self._assign(task, agent)
                    progress = True
                    break

    def _assign(self, task: Task, agent: Agent) -> None:
        agent.in_flight += 1
        if agent.in_flight >= agent.spec.capacity:
            self._set_agent_state(agent, AgentState.BUSY)
        task.agent_id = agent.id
        task.attempts += 1
        self._transition(task, TaskState.ASSIGNED, {"attempt": task.attempts})
        self._running[task.id] = asyncio.get_running_loop().create_task(self._run(task, agent))

    async def _run(self, task: Task, agent: Agent) -> None:
        runtime = self.runtimes[agent.spec.runtime]
        loop = asyncio.get_running_loop()
        timer = None
        try:
            try:
                self._check_interrupt(task)  # interrupted before this coroutine started
                if self.hooks.has_task_hooks:
                    await self.hooks.task_before(task, agent)
                    self._check_interrupt(task)
                self._transition(task, TaskState.RUNNING)
                timer = loop.call_later(task.spec.timeout, self._timed_out, task)
                value = await runtime.execute(agent, task)
                self._check_interrupt(task)
                outcome = Outcome(TaskState.SUCCEEDED, value, None, agent.id, task.attempts)
            except asyncio.CancelledError:
                interrupted = self._interrupted(task, agent)
                if interrupted is None:
                    raise
                outcome = interrupted
            except Rejected as exc:
                outcome = Outcome(
                    TaskState.FAILED, None, f"rejected: {exc}", agent.id, task.attempts
                )
            except PermanentFailure as exc:
                outcome = Outcome(
                    TaskState.FAILED, None, _describe(exc), agent.id, task.attempts, retry=False
                )
            except Exception as exc:
                outcome = Outcome(TaskState.FAILED, None, _describe(exc), agent.id, task.attempts)
            finally:
                if timer is not None:
                    timer.cancel()
            if self.hooks.has_task_hooks and outcome.state is not TaskState.CANCELLED:
                try:
                    outcome = await self.hooks.task_after(task, agent, outcome)
                    self._check_interrupt(task)
                except asyncio.CancelledError:
                    interrupted = self._interrupted(task, agent)
                    if interrupted is None:
                        raise
                    outcome = interrupted
        finally:
            self._running.pop(task.id, None)
            self._interrupts.pop(task.id, None)
            self._release(agent)
        self._settle(task, outcome)

    def _check_interrupt(self, task: Task) -> None:
        """Raise ``CancelledError`` if the attempt was interrupted: also when the cancellation
        was swallowed on the way (``asyncio.wait_for`` before 3.12 does that when what it
        awaits finishes at the same moment; a handler may catch it)."""
        if task.id in self._interrupts:
            raise asyncio.CancelledError

    def _interrupted(self, task: Task, agent: Agent) -> Outcome | None:
        """The outcome of an attempt the kernel interrupted; None if nobody asked for it (a
        cancellation from outside, which the caller re-raises)."""
        interrupt = self._interrupts.pop(task.id, None)
        if interrupt is None:
            return None
        current = asyncio.current_task()
        if current is not None and hasattr(current, "uncancel"):
            current.uncancel()
        reason, counts = interrupt
        if reason == "cancelled":
            return Outcome(TaskState.CANCELLED, None, "cancelled", agent.id, task.attempts)
        if not counts:
            task.attempts -= 1
        return Outcome(TaskState.FAILED, None, reason, agent.id, task.attempts)

    def _timed_out(self, task: Task) -> None:
        if task.id in self._running:
            self._interrupt(task, f"timed out after {task.spec.timeout:g} s", count=True)

    def _interrupt(self, task: Task, reason: str, *, count: bool) -> None:
        runner = self._running.get(task.id)
        if runner is not None and task.id not in self._interrupts:
            self._interrupts[task.id] = (reason, count)
            # A task cancelled before its first step never runs its body (no cleanup, no
            # outcome): let ``_run`` see the interrupt when it starts instead.
            coro = runner.get_coro()
            if not inspect.iscoroutine(coro) or inspect.getcoroutinestate(coro) != "CORO_CREATED":
                runner.cancel()

    def _release(self, agent: Agent) -> None:
        agent.in_flight -= 1
        if agent.state is AgentState.BUSY:
            self._set_agent_state(agent, AgentState.READY)
            self._pump(agent.spec.capabilities)
        elif agent.state is AgentState.READY:
            self._pump(agent.spec.capabilities)
        if agent.in_flight == 0:
            event = self._drained.pop(agent.id, None)
            if event is not None:
                event.set()

    def _settle(self, task: Task, outcome: Outcome) -> None:
        if task.state.terminal:
            return
        if outcome.state is not TaskState.FAILED or not outcome.retry:
            self._finish(task, outcome)
        elif task.attempts >= task.spec.max_attempts:
            self._finish(task, attrs.evolve(outcome, state=TaskState.DEAD))
        elif self._closing and not self.store.durable:
            self._finish(
                task,
                attrs.evolve(
                    outcome,
                    state=TaskState.CANCELLED,
                    error=f"orchestrator stopped ({outcome.error})",
                ),
            )
        else:
            self._retry(task, outcome.error or "failed")

    def _retry(self, task: Task, error: str) -> None:
        settings = self.config.orchestrator
        ceiling = min(settings.retry_max, settings.retry_base * 2 ** max(task.attempts - 1, 0))
        delay = ceiling / 2 + self._rng.random() * ceiling / 2
        self._retries += 1
        task.agent_id = None
        self._transition(
            task,
            TaskState.PENDING,
            {"error": error, "attempt": task.attempts, "retry_in": round(delay, 3)},
        )
        if delay <= 0:
            self._place(task)
        else:
            asyncio.get_running_loop().call_later(delay, self._requeue, task)

    def _requeue(self, task: Task) -> None:
        if task.state is TaskState.PENDING and not self._closing:
            self._place(task)

    def _finish(self, task: Task, outcome: Outcome) -> None:
        task.outcome = outcome
        self._active.pop(task.id, None)
        data: dict[str, Any] = {"attempts": outcome.attempts}
        if outcome.error is not None:
            data["error"] = outcome.error
        self._transition(task, outcome.state, data)
        for waiter in self._waiters.pop(task.id, ()):
            if not waiter.done():
                waiter.set_result(outcome)

    def _waiter(self, task_id: str) -> asyncio.Future[Outcome]:
        """A new future for one caller waiting on the task's outcome."""
        waiter: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.get(task_id)
        if waiters is None:
            self._waiters[task_id] = [waiter]
        else:
            waiters.append(waiter)
        return waiter

    def _unwait(self, task_id: str, waiter: asyncio.Future[Outcome]) -> None:
        """Forget a caller that stopped waiting (cancelled or timed out)."""
        waiters = self._waiters.get(task_id)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[task_id]

    def _recover(self, task: Task) -> None:
        """Re-queue a task a durable store kept from an earlier run."""
        self._active[task.id] = task
        self._counts[task.state] += 1
        task.agent_id = None
        self._transition(task, TaskState.PENDING, {"recovered": True})
        self._place(task)

    # -- internals: agents leaving, health, pools ---------------------------------------------

    async def _remove(
        self, agent: Agent, reason: str, *, drain: bool, timeout: float | None = None
    ) -> None:
        """Take an agent out: drain or interrupt its work, stop it, forget it. A second call
        while one is under way waits for it (a failure interrupts the work at once)."""
        if agent.id not in self._agents or agent.state is AgentState.STOPPED:
            return
        ongoing = self._removing.get(agent.id)
        if ongoing is not None:
            if agent.state is AgentState.FAILED:
                self._interrupt_agent(agent, reason, count=True)
            await asyncio.shield(ongoing)
            return
        done = self._removing[agent.id] = asyncio.get_running_loop().create_future()
        try:
            await self._take_out(agent, reason, drain=drain, timeout=timeout)
        finally:
            del self._removing[agent.id]
            done.set_result(None)

    def _interrupt_agent(
        self, agent: Agent, reason: str, *, count: bool
    ) -> list[asyncio.Task[None]]:
        """Interrupt every attempt running on ``agent``; return their runners."""
        runners = []
        for task in list(self._active.values()):
            runner = self._running.get(task.id)
            if task.agent_id == agent.id and runner is not None:
                self._interrupt(task, f"agent {agent.name} {reason}", count=count)
                runners.append(runner)
        return runners

    async def _take_out(
        self, agent: Agent, reason: str, *, drain: bool, timeout: float | None
    ) -> None:
        if drain and agent.state is not AgentState.FAILED:
            await self.drain(agent.id, timeout)
        elif agent.state is not AgentState.FAILED:
            self._set_agent_state(agent, AgentState.DRAINING, reason)
        failed = agent.state is AgentState.FAILED
        runners = self._interrupt_agent(agent, reason, count=failed)
        if runners:
            await asyncio.gather(*runners, return_exceptions=True)
        try:
            await self.runtimes[agent.spec.runtime].stop(agent)
        except Exception as exc:
            log.warning("runtime failed to stop agent", agent=agent.name, error=str(exc))
        self._agents.pop(agent.id, None)
        self._names.pop(agent.name, None)
        self._index.discard(agent)
        if not failed:
            self._set_agent_state(agent, AgentState.STOPPED, reason)
        if agent.pool is not None and agent.pool in self.pools:
            pool = self.pools[agent.pool]
            if agent.id in pool.agents:
                pool.agents.remove(agent.id)
            if failed:
                self._pool_failed(pool, f"agent {agent.name} failed")
        self.hooks.agent_deregistered(agent, reason)

    def _apply_health(self, agent: Agent, report: HealthReport) -> None:
        old = agent.health
        if report.status is old:
            return
        agent.health = report.status
        self.hooks.health_changed(agent, old, report.status, report.reason)
        self._emit(
            "agent.health",
            agent=agent,
            data={
                "from": old.name.lower(),
                "to": report.status.name.lower(),
                "reason": report.reason,
                "source": report.source,
            },
        )
        if report.status is HealthStatus.FAILED:
            self._set_agent_state(agent, AgentState.FAILED, report.reason)
            self._background(self._remove(agent, "failed", drain=False))
        elif report.status is HealthStatus.UNHEALTHY:
            if agent.state in (AgentState.READY, AgentState.BUSY):
                self._set_agent_state(agent, AgentState.UNHEALTHY, report.reason)
        elif agent.state is AgentState.UNHEALTHY:
            full = agent.in_flight >= agent.spec.capacity
            self._set_agent_state(
                agent, AgentState.BUSY if full else AgentState.READY, report.reason
            )
            self._pump(agent.spec.capabilities)

    def _background(self, work: Any) -> None:
        """Run kernel work (removing a failed agent) without blocking the caller."""
        future = asyncio.ensure_future(work)
        self._chores.add(future)
        future.add_done_callback(self._chores.discard)

    async def _check_health(self) -> None:
        agents = [
            a
            for a in self._agents.values()
            if a.state not in (AgentState.STARTING, AgentState.FAILED, AgentState.STOPPED)
        ]
        reports = await asyncio.gather(*(self.hooks.health_check(a) for a in agents))
        for agent, report in zip(agents, reports, strict=True):
            if report is not None and agent.id in self._agents:
                self._apply_health(agent, report)

    def _pool_metrics(self, pool: Pool) -> PoolMetrics:
        members = [self._agents[i] for i in pool.agents if i in self._agents]
        caps = pool.spec.capabilities
        waiting = [t for t in self._queue.tasks() if t.spec.requires <= caps]
        oldest = min((t.times.get("queued", t.submitted) for t in waiting), default=None)
        return PoolMetrics(
            agents=len(members),
            ready=sum(a.state is AgentState.READY for a in members),
            busy=sum(a.state is AgentState.BUSY for a in members),
            in_flight=sum(a.in_flight for a in members),
            capacity=sum(a.spec.capacity for a in members),
            queued=len(waiting),
            idle=sum(a.state is AgentState.READY and a.in_flight == 0 for a in members),
            oldest_wait=0.0 if oldest is None else max(0.0, time.time() - oldest),
        )

    async def _reconcile_pools(self) -> None:
        for pool in self.pools.values():
            if self.hooks.has_scale:
                answer = self.hooks.scale(pool, self._pool_metrics(pool))
                if answer is not None:
                    proposed, plugin = answer
                    desired = pool.size.clamp(proposed)
                    if desired != pool.desired:
                        self._emit(
                            "pool.scaled",
                            data={
                                "pool": pool.name,
                                "from": pool.desired,
                                "to": desired,
                                "proposed": proposed,
                                "by": plugin,
                            },
                        )
                        pool.desired = desired
            missing = pool.desired - len(pool.agents)
            if missing > 0 and time.time() >= pool.restart_at:
                await asyncio.gather(*(self._spawn(pool) for _ in range(missing)))
            elif missing < 0:
                idle = [
                    self._agents[i]
                    for i in pool.agents
                    if i in self._agents
                    and self._agents[i].in_flight == 0
                    and self._agents[i].state is AgentState.READY
                ]
                for agent in idle[:-missing]:
                    # an earlier removal awaited: this one may have taken work meanwhile
                    if agent.in_flight == 0 and agent.state is AgentState.READY:
                        await self._remove(agent, "scaled down", drain=True)

    async def _spawn(self, pool: Pool) -> None:
        pool.started += 1
        spec = attrs.evolve(pool.spec, name=f"{pool.name}-{pool.started}")
        try:
            agent = await self.register(spec, pool=pool.name)
        except AlvearyError as exc:
            log.warning("pool agent failed to start", pool=pool.name, error=str(exc))
            self._pool_failed(pool, str(exc))
            return
        pool.agents.append(agent.id)

    def _pool_failed(self, pool: Pool, reason: str) -> None:
        """Count a failure of the pool's agents and hold its next start back: the first
        replacement is immediate, then ``restart_base * 2**(n-2)`` s up to ``restart_max``."""
        settings = self.config.orchestrator
        now = time.time()
        if now - pool.failed_at > 2 * settings.restart_max:
            pool.failures = 0
        pool.failures += 1
        pool.failed_at = now
        if pool.failures < 2:
            return
        delay = min(settings.restart_max, settings.restart_base * 2 ** (pool.failures - 2))
        pool.restart_at = max(pool.restart_at, now + delay)
        self._emit(
            "pool.backoff",
            data={
                "pool": pool.name,
                "failures": pool.failures,
                "delay": round(delay, 3),
                "reason": reason,
            },
        )

    async def _tick_loop(self) -> None:
        interval = self.config.orchestrator.tick_interval
        while True:
            await asyncio.sleep(interval)
            now = time.time()
            try:
                await self.hooks.tick(self, now)
                if (
                    self.hooks.has_health
                    and self.health_checks_by is None
                    and now - self._last_health >= self.config.orchestrator.health_interval
                ):
                    self._last_health = now
                    await self._check_health()
                await self._reconcile_pools()
                self._pump(None)
            except Exception:  # the loop must outlive a bug in any one step
                log.exception("tick failed")

    async def _principal(
        self, credentials: Mapping[str, Any] | None, action: str, resource: str
    ) -> Principal:
        principal = ANONYMOUS
        if self.hooks.has_authn:
            found = await self.hooks.authenticate(credentials or {})
            if found is None:
                self._emit(
                    "security.denied",
                    data={"action": action, "resource": resource, "reason": "not authenticated"},
                )
                raise Denied("not authenticated")
            principal = found
        if self.hooks.has_authz and not await self.hooks.authorize(principal, action, resource):
            self._emit(
                "security.denied",
                data={
                    "action": action,
                    "resource": resource,
                    "principal": principal.id,
                    "reason": "not authorized",
                },
            )
            raise Denied(f"{principal.id} may not {action} {resource}")
        return principal


def _one_of(name: str, known: Mapping[str, object]) -> str:
    return f"{name!r} is not one of {', '.join(sorted(known)) or '(none installed)'}"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
