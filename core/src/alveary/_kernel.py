"""The kernel assembled: its parts wired together, started, ticked and stopped.

Each part is a module of its own: the registry (agents, index, states), the task book
(records, transitions, waiters, retry policy), the dispatcher (route, queue, pump, release),
attempts (run, interrupt, timeouts), membership (agents joining and leaving), pools, the health
keeper, the gatekeeper and the event bus. The public front is on top: ``Oversight``
(``_oversight``: health, pools, approvals, checks, events) and ``Orchestrator``
(``_orchestrator``: agents and tasks).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import structlog

from ._agents import Membership
from ._assemble import assemble
from ._attempts import Attempts
from ._config import Config
from ._dispatch import Dispatcher
from ._errors import StartFailed
from ._events import EventBus
from ._gatekeeper import Gatekeeper
from ._handle import Metrics
from ._healthkeeper import HealthKeeper
from ._pools import Pools
from ._records import Pool, Principal, Task
from ._registry import Registry
from ._states import TaskState
from ._storekeeper import StoreKeeper
from ._taskbook import TaskBook
from ._timers import Deadlines
from ._verdicts import Approvals

if TYPE_CHECKING:
    from ._host import Host

log = structlog.get_logger("alveary")

KERNEL = Principal("alveary", roles={"kernel"})
"""Who registers the agents of declared pools."""


class Kernel:
    """The kernel's parts wired together, their start, stop and tick loop. ``Orchestrator``
    adds the public API on top."""

    def __init__(
        self,
        config: Config,
        plugins: Sequence[object] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Load and check the plugins ``config`` enables (plus plugin objects given directly);
        raises ``PluginError`` or ``ConfigError`` listing every problem. ``clock`` is where
        the kernel reads the time (``alveary.testing.ManualClock`` in tests)."""
        parts = assemble(config, plugins)
        settings = config.orchestrator
        self.config = config
        self.plugins: dict[str, object] = dict(parts.plugins)
        self.hooks = hooks = parts.hooks
        self.runtimes = parts.runtimes
        self.store = parts.store
        self.now = clock
        self._rng = rng = random.Random()
        self._prefix = os.urandom(4).hex()
        self._counter = 0
        self._submitted = 0
        self._started = 0.0
        self._running = False
        self._tick_task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._chores: set[asyncio.Future[Any]] = set()
        self._events = events = EventBus(hooks, clock)
        hooks.on_failure = events.plugin_failed
        self._keeper = StoreKeeper(self.store, settings, events, self._lost_lease)
        self.lost_lease: str | None = None
        """Why this orchestrator stopped itself: another one took the store's lease."""
        self.stopped = asyncio.Event()
        """Set once ``stop`` finished, whoever called it."""
        self._deadlines = deadlines = Deadlines(clock)
        self._registry = registry = Registry(hooks, events)
        self._gate = Gatekeeper(hooks, events)
        self._approvals = Approvals(events)
        self._book = book = TaskBook(
            self.store, events, deadlines, settings, clock, rng, lambda t: dispatch.place(t)
        )
        self._attempts = attempts = Attempts(
            hooks,
            self.runtimes,
            book,
            deadlines,
            clock,
            settings.cancel_grace,
            lambda a: dispatch.release(a),
        )
        self._pools = pools = Pools(
            hooks,
            registry,
            events,
            settings,
            clock,
            lambda p: members.register(pools.spec_for(p), KERNEL, p.name),
            lambda a, why: members.remove(a, why, drain=True),
            self._background,
            lambda runtime: bool(getattr(self.runtimes.get(runtime), "joins", False)),
        )
        self._dispatch = dispatch = Dispatcher(
            hooks,
            registry,
            book,
            events,
            deadlines,
            clock,
            rng,
            config.routing.sample,
            pools.capabilities,
            attempts.start,
            parts.strategy,
            hooks.owners.get(("strategy", settings.strategy), settings.strategy),
        )
        self._members = members = Membership(
            hooks,
            registry,
            events,
            attempts,
            self.runtimes,
            settings,
            clock,
            self._new_id,
            dispatch.pump,
            pools.joined,
            pools.left,
        )
        self._health = HealthKeeper(
            hooks,
            registry,
            events,
            dispatch.pump,
            lambda a, why: members.remove(a, why, drain=False),
            self._background,
        )

    @property
    def strategy(self) -> Any:
        """The routing strategy in use (``[orchestrator] strategy``)."""
        return self._dispatch.strategy

    @strategy.setter
    def strategy(self, strategy: Any) -> None:
        self._dispatch.strategy = strategy

    @property
    def pools(self) -> Mapping[str, Pool]:
        return self._pools.by_name

    @property
    def health_checks_by(self) -> str | None:
        """The plugin that schedules health checks instead of the kernel, if any."""
        return self._health.claimed_by

    def metrics(self) -> Metrics:
        """A snapshot of counts by state, queue length and failures."""
        agents = Counter(a.state.value for a in self._registry.by_id.values())
        return Metrics(
            agents=dict(agents),
            tasks={s.value: n for s, n in self._book.counts.items() if n},
            queued=self._dispatch.queue.size,
            in_flight=len(self._attempts.running),
            submitted=self._submitted,
            retries=self._book.retries,
            plugin_failures=dict(self.hooks.failures),
            disabled_plugins=tuple(sorted(self.hooks.disabled)),
            uptime=self.now() - self._started if self._started else 0.0,
            events=dict(self._events.counts),
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Run ``alveary_startup``, recover the store's unfinished tasks, start the pools'
        first agents (at once, each within ``start_timeout``) and the tick loop; from then
        on pools grow and shrink in the background."""
        if self._running:
            return
        self._running = True
        self._started = self.now()
        try:
            await self._keeper.open()
        except BaseException:  # a store that cannot open, or a stop while standing by
            self._running = False
            await self._keeper.close(0)
            raise
        try:
            await self.hooks.startup(self._host, self.config.orchestrator.start_timeout)
        except StartFailed:  # a plugin's service could not start: neither does the orchestrator
            self._running = False
            settings = self.config.orchestrator
            await self.hooks.shutdown(self._host, max(settings.hook_timeout, settings.cancel_grace))
            await self._keeper.close(self.config.orchestrator.cancel_grace)
            raise
        recovered = sorted(self.store.unfinished(), key=lambda t: (-t.spec.priority, t.submitted))
        for task in recovered:
            self._book.add(task, how="recovered")
            self._dispatch.place(task)
        self._pools.declare(self.config.pools)
        self._pools.reconcile(self.waiting)
        if self._chores:  # the first agents of each pool (each start is bounded)
            await asyncio.wait(set(self._chores))
        self._tick_task = asyncio.get_running_loop().create_task(self._tick_loop())
        self._events.emit("orchestrator.started", data={"plugins": list(self.plugins)})

    async def stop(self, timeout: float | None = None) -> None:
        """Shut down: stop the tick loop, drain every agent (up to ``timeout``, default
        ``[orchestrator] shutdown_timeout``), stop them, run ``alveary_shutdown``. With a
        store that is not durable, tasks still waiting are cancelled; a durable one keeps
        them for the next start. Nothing a plugin or runtime does can keep it waiting for
        much longer than ``timeout`` plus ``cancel_grace``."""
        if not self._running or self._book.closing:
            return
        self._book.closing = True
        settings = self.config.orchestrator
        if self._tick_task is not None:
            self._tick_task.cancel()
            await asyncio.gather(self._tick_task, return_exceptions=True)
        starting = self._pools.cancel_starts()  # an agent must not come up behind the stop
        if starting:
            await asyncio.wait(starting, timeout=settings.cancel_grace)
        timeout = settings.shutdown_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        agents = list(self._registry.by_id.values())
        await asyncio.gather(
            *(self._members.remove(a, "shutdown", drain=True, timeout=timeout) for a in agents),
            return_exceptions=True,
        )
        if not self.store.durable:
            for task in list(self._book.active.values()):
                self._book.fail_now(task, TaskState.CANCELLED, "orchestrator stopped")
        self._attempts.cancel_all()
        self._deadlines.close()
        if self._chores:
            await asyncio.wait(self._chores, timeout=settings.cancel_grace)
        self._events.emit("orchestrator.stopped")
        await self.hooks.shutdown(self._host, max(settings.hook_timeout, deadline - loop.time()))
        await self.hooks.drain_background()
        await self._keeper.close(deadline - loop.time())
        self._events.close()
        self._running = False
        self.stopped.set()

    def _lost_lease(self, reason: str) -> None:
        """Another orchestrator leads the store now: stop taking and running work at once."""
        self.lost_lease = reason
        self._stopping = asyncio.ensure_future(self.stop(timeout=0))

    async def _tick_loop(self) -> None:
        settings = self.config.orchestrator
        while True:
            await asyncio.sleep(settings.tick_interval)
            now = self.now()
            try:
                self._deadlines.sweep()
                await self.hooks.tick(self._host, now)
                await self._health.sweep(now, settings.health_interval)
                self._pools.reconcile(self.waiting)
                self._dispatch.pump(None)
            except Exception:  # the loop must outlive a bug in any one step
                log.exception("tick failed")

    def waiting(self) -> list[Task]:
        """The tasks waiting in the queue for an agent now, in no particular order (each
        one's ``times["queued"]`` says since when)."""
        return list(self._dispatch.queue.tasks())

    def unplaceable(self, requires: Iterable[str]) -> str | None:
        """Why no agent, now or later, could take a task that requires these capabilities
        (no registered agent and no declared pool has them all); None when one could, busy
        or not. What a ``routing.unplaceable`` event says, asked at any time."""
        return self._dispatch.unplaceable(frozenset(requires))

    def _background(self, work: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        """Run kernel work (starting or removing an agent) without blocking the caller."""
        future = asyncio.ensure_future(work)
        self._chores.add(future)
        future.add_done_callback(self._chores.discard)
        return future

    @property
    def _host(self) -> Host:
        """What the lifecycle hooks receive: ``Orchestrator``, this class's one subclass, is
        the ``Host``."""
        return cast("Host", self)

    def _new_id(self) -> str:
        self._counter += 1
        return f"{self._prefix}-{self._counter}"
