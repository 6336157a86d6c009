"""Calling plugin code so that its failure is its own.

Each call is timed against ``[orchestrator] hook_timeout`` (less the garbage collector's
pauses, see ``_pauses``); what it returns is checked; an exception, an overrun or a wrong value
is logged, counted per (plugin, hook), reported through ``on_failure`` (the kernel turns it
into a ``plugin.failed`` event), and the result is dropped.
``max_failures`` failures in a row of one hook disable the plugin; so does one async hook that
ignores cancellation at the end of its budget. A disabled plugin that implements a gate keeps
that gate closed for the rest of the run.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pluggy
import structlog

from . import hookspecs
from ._errors import Denied, PluginError, Rejected
from ._guard import Overrun, bounded
from ._impls import EVENT, Impl, bad_event_types, table
from ._pauses import PAUSES, watch

log = structlog.get_logger("alveary.hooks")

FAILED: Any = object()
"""What a call returns when the implementation failed: its result is to be ignored."""

Check = Callable[[Any], "str | None"]
"""A return-value check: None when the value is acceptable, else what is wrong with it."""

_AUTH = frozenset({"alveary_authenticate", "alveary_authorize"})


class Isolation:
    """Implementations per hook in call order, and the accounting of their failures.

    ``on_failure(plugin, hook, error, disabled)`` is how the kernel turns failures into
    events; it is set once the orchestrator exists.
    """

    def __init__(
        self,
        plugins: Sequence[tuple[str, object]],
        *,
        budget: float,
        max_failures: int,
        weights: Mapping[str, float],
    ) -> None:
        self.pm = pluggy.PluginManager("alveary")
        self.pm.add_hookspecs(hookspecs)
        problems = [p for name, plugin in plugins if (p := bad_event_types(name, plugin))]
        if problems:
            raise PluginError(problems)
        for name, plugin in plugins:
            self.pm.register(plugin, name=name)
        self._order = {name: i for i, (name, _) in enumerate(plugins)}
        self.budget = budget
        self.max_failures = max_failures
        self.weights = dict(weights)
        self.streak: dict[tuple[str, str], int] = {}
        self.failures: dict[str, int] = {}
        self.disabled: set[str] = set()
        self.owners: dict[tuple[str, str], str] = {}
        """(component kind, name) -> the plugin that provides it."""
        self.on_failure: Callable[[str, str, str, bool], None] | None = None
        self.impls: dict[str, tuple[Impl, ...]] = {}
        self.closed: dict[str, str] = {}
        """Gate hook -> a disabled plugin that implements it: the gate refuses everything."""
        self._background: set[asyncio.Future[Any]] = set()
        self._build()
        watch()

    def _build(self) -> None:
        self.impls, self.closed = table(self.pm, self._order, self.disabled)
        on = {hook for hook, impls in self.impls.items() if impls} | set(self.closed)
        self.has_filters = "alveary_route_filter" in on
        self.has_scorers = "alveary_route_score" in on
        self.has_authn = "alveary_authenticate" in on
        self.has_authz = "alveary_authorize" in on
        self.has_security = self.has_authn or self.has_authz
        self.has_task_validate = "alveary_task_validate" in on
        self.has_health = "alveary_health_check" in on
        self.has_scale = "alveary_scale" in on
        self.has_task_before = "alveary_task_before" in on
        self.has_task_after = "alveary_task_after" in on
        self.has_attempt_hooks = "alveary_attempt_finished" in on
        self.has_state_hooks = "alveary_agent_state_changed" in on

    # -- accounting -------------------------------------------------------------------------

    def succeed(self, plugin: str, hook: str) -> None:
        if self.streak:  # only failing (plugin, hook) pairs are in it: usually none
            self.streak.pop((plugin, hook), None)

    def fail(self, plugin: str, hook: str, error: str, *, stuck: bool = False) -> None:
        """Count a failure; disable the plugin after ``max_failures`` in a row of ``hook``,
        or at once if it would not stop (``stuck``)."""
        self.failures[plugin] = self.failures.get(plugin, 0) + 1
        streak = self.streak[(plugin, hook)] = self.streak.get((plugin, hook), 0) + 1
        disable = (stuck or streak >= self.max_failures) and plugin not in self.disabled
        log.warning("plugin failed", plugin=plugin, hook=hook, error=error, streak=streak)
        if disable:
            self.disabled.add(plugin)
            self._build()
            log.error("plugin disabled", plugin=plugin, hook=hook, failures_in_a_row=streak)
        if self.on_failure is not None:
            self.on_failure(plugin, hook, error, disable)

    def gate(self, hook: str, what: str) -> tuple[Impl, ...]:
        """The implementations of a gate hook; raises if a disabled plugin implements it."""
        plugin = self.closed.get(hook)
        if plugin is not None:
            reason = f"{what} refused: plugin {plugin!r} is disabled"
            raise unavailable(reason, plugin) if hook in _AUTH else Rejected(reason, plugin=plugin)
        return self.impls[hook]

    # -- calling ----------------------------------------------------------------------------

    def call(
        self,
        impl: Impl,
        args: tuple[Any, ...],
        check: Check | None = None,
        passthrough: type[BaseException] | None = None,
        budget: float | None = None,
    ) -> Any:
        """Call one implementation synchronously; its result, an awaitable to ``settle``, or
        ``FAILED``. A result that took longer than the budget (``budget``, else the hooks'
        budget) is dropped."""
        budget = self.budget if budget is None else budget
        start, paused = time.perf_counter(), PAUSES.total
        try:
            result = impl.fn(*args)
        except (Exception, asyncio.CancelledError) as exc:
            if passthrough is not None and isinstance(exc, passthrough):
                raise
            self.fail(impl.plugin, impl.hook, describe(exc))
            return FAILED
        if result is not None and inspect.isawaitable(result):
            return result
        elapsed = time.perf_counter() - start
        if elapsed > budget:
            elapsed -= PAUSES.total - paused  # the collector's pauses are not the plugin's
            if elapsed > budget:
                self.fail(impl.plugin, impl.hook, _overrun(elapsed, budget))
                return FAILED
        if result is None:  # the usual answer: nothing to check
            if self.streak:
                self.streak.pop(impl.key, None)
            return None
        return self._accept(impl, result, check)

    async def acall(
        self,
        impl: Impl,
        args: tuple[Any, ...],
        check: Check | None = None,
        passthrough: type[BaseException] | None = None,
        budget: float | None = None,
    ) -> Any:
        """Call one implementation that may be async; await it within the budget."""
        result = self.call(impl, args, check, passthrough, budget)
        if result is None or result is FAILED or not inspect.isawaitable(result):
            return result
        return await self.settle(impl, result, check, passthrough, budget)

    async def settle(
        self,
        impl: Impl,
        awaitable: Awaitable[Any],
        check: Check | None = None,
        passthrough: type[BaseException] | None = None,
        budget: float | None = None,
    ) -> Any:
        """Await what an async implementation returned, for at most the budget; one that
        ignores cancellation then is abandoned and its plugin disabled."""
        budget = self.budget if budget is None else budget
        try:
            value = await bounded(awaitable, budget, min(budget, self.budget))
        except Overrun as over:
            error = _overrun(over.elapsed, budget)
            if over.stuck:
                error += " and ignored cancellation"
            self.fail(impl.plugin, impl.hook, error, stuck=over.stuck)
            return FAILED
        except Exception as exc:
            if passthrough is not None and isinstance(exc, passthrough):
                raise
            self.fail(impl.plugin, impl.hook, describe(exc))
            return FAILED
        return self._accept(impl, value, check)

    def _accept(self, impl: Impl, value: Any, check: Check | None) -> Any:
        """``value`` if ``check`` finds nothing wrong with it (a success), else ``FAILED``."""
        if check is not None and value is not None:
            problem = check(value)
            if problem is not None:
                self.fail(impl.plugin, impl.hook, problem)
                return FAILED
        self.succeed(impl.plugin, impl.hook)
        return value

    def listeners(self, event_type: str) -> tuple[Impl, ...]:
        """The ``alveary_event`` implementations that want events of ``event_type``. A
        plugin whose ``event_types`` fails the ``in`` test has failed, and misses the event."""
        found = []
        for impl in self.impls[EVENT]:
            if impl.wants is not None:
                try:
                    if event_type not in impl.wants:
                        continue
                except Exception as exc:
                    self.fail(impl.plugin, EVENT, f"event_types: {describe(exc)}")
                    continue
            found.append(impl)
        return tuple(found)

    def notify(self, impls: tuple[Impl, ...], args: tuple[Any, ...]) -> None:
        """Call the implementations ``impls`` of a notification hook; async ones finish in
        the background.

        ``call`` inlined, because events take this path several times per task: one clock
        reading per implementation (each one's time runs from the end of the one before),
        and no result to check. An overrun is checked again without the collector's pauses
        since the notification began (the plugin's share of them is not known)."""
        clock, budget, streak = time.perf_counter, self.budget, self.streak
        start, paused = clock(), PAUSES.total
        for impl in impls:
            try:
                result = impl.fn(*args)
            except (Exception, asyncio.CancelledError) as exc:
                self.fail(impl.plugin, impl.hook, describe(exc))
                start = clock()
                continue
            end = clock()
            if result is not None and inspect.isawaitable(result):
                future = asyncio.ensure_future(self.settle(impl, result))
                self._background.add(future)
                future.add_done_callback(self._background.discard)
            elif end - start > budget and (own := end - start - PAUSES.total + paused) > budget:
                self.fail(impl.plugin, impl.hook, _overrun(own, budget))
            elif streak:
                streak.pop(impl.key, None)
            start = end

    async def drain_background(self) -> None:
        """Wait for notifications still running in the background (each within its budget)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
            # Awaiting futures that are all done may not yield to the loop (3.12+), so their
            # own discard callbacks would never run: drop the finished ones here.
            self._background.difference_update([f for f in self._background if f.done()])


def unavailable(reason: str, plugin: str) -> Denied:
    """A refusal because a security plugin failed or is disabled: no decision was made."""
    denied = Denied(reason, plugin=plugin)
    denied.unavailable = True
    return denied


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _overrun(elapsed: float, budget: float) -> str:
    return f"overran its budget ({elapsed * 1000:.0f} ms > {budget * 1000:.0f} ms)"
