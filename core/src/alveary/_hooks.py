"""The typed facade through which the kernel calls every hook.

pluggy validates and collects the implementations; this module calls them itself, one by one in
config order, so that one plugin's exception or overrun never stops the others: it is logged,
counted, reported as a ``plugin.failed`` event, and after ``max_failures`` in a row the plugin
is disabled.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pluggy
import structlog

from . import hookspecs
from ._errors import PluginError, Rejected
from ._records import (
    Agent,
    AgentSpec,
    Event,
    HealthReport,
    HealthStatus,
    Outcome,
    Pool,
    PoolMetrics,
    Principal,
    Task,
    TaskSpec,
)
from ._values import shown

if TYPE_CHECKING:
    from ._components import Runtime, Store, Strategy
    from ._config import Config
    from ._orchestrator import Orchestrator
    from ._routing import Candidates

log = structlog.get_logger("alveary.hooks")

T = TypeVar("T")

HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, fn in vars(hookspecs).items() if name.startswith("alveary_") and callable(fn)
)
"""Every hook name, in the order ``hookspecs`` declares them."""

SYNC_ONLY = frozenset(
    {
        "alveary_runtimes",
        "alveary_stores",
        "alveary_strategies",
        "alveary_route_filter",
        "alveary_route_score",
        "alveary_scale",
    }
)
"""Hooks on the hot path or at start-up that must be plain functions."""

_FAILED: Any = object()


@attrs.define(slots=True)
class _Impl:
    plugin: str
    hook: str
    fn: Callable[..., Any]
    argnames: tuple[str, ...]
    positional: bool


SPEC_ARGS: dict[str, tuple[str, ...]] = {
    hook: tuple(inspect.signature(getattr(hookspecs, hook)).parameters) for hook in HOOK_NAMES
}
"""Each hook's argument names, as its spec declares them."""


class Hooks:
    """Calls hook implementations with isolation, budgets and failure accounting.

    ``on_failure(plugin, hook, error, disabled)`` is how the orchestrator turns failures into
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
        for name, plugin in plugins:
            self.pm.register(plugin, name=name)
        self._order = {name: i for i, (name, _) in enumerate(plugins)}
        self.budget = budget
        self.max_failures = max_failures
        self._weights = dict(weights)
        self.streak: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.disabled: set[str] = set()
        self.on_failure: Callable[[str, str, str, bool], None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._impls: dict[str, tuple[_Impl, ...]] = {}
        self._build()

    # -- bookkeeping ------------------------------------------------------------------------

    def _build(self) -> None:
        for hook in HOOK_NAMES:
            spec_args = SPEC_ARGS[hook]
            found = []
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                if impl.plugin_name in self.disabled:
                    continue
                rank = 0 if impl.tryfirst else 2 if impl.trylast else 1
                found.append(
                    (
                        rank,
                        self._order.get(impl.plugin_name, len(self._order)),
                        _Impl(
                            impl.plugin_name,
                            hook,
                            impl.function,
                            tuple(impl.argnames),
                            tuple(impl.argnames) == spec_args,
                        ),
                    )
                )
            found.sort(key=lambda t: (t[0], t[1]))
            self._impls[hook] = tuple(i for _, _, i in found)
        self.has_filters = bool(self._impls["alveary_route_filter"])
        self.has_scorers = bool(self._impls["alveary_route_score"])
        self.has_authn = bool(self._impls["alveary_authenticate"])
        self.has_authz = bool(self._impls["alveary_authorize"])
        self.has_events = bool(self._impls["alveary_event"])
        self.has_health = bool(self._impls["alveary_health_check"])
        self.has_scale = bool(self._impls["alveary_scale"])
        self.has_task_hooks = bool(
            self._impls["alveary_task_before"] or self._impls["alveary_task_after"]
        )

    def _ok(self, impl: _Impl) -> None:
        if self.streak.get(impl.plugin):
            self.streak[impl.plugin] = 0

    def _fail(self, impl: _Impl, error: str) -> None:
        plugin = impl.plugin
        self.failures[plugin] = self.failures.get(plugin, 0) + 1
        streak = self.streak[plugin] = self.streak.get(plugin, 0) + 1
        disable = streak >= self.max_failures and plugin not in self.disabled
        log.warning("plugin failed", plugin=plugin, hook=impl.hook, error=error, streak=streak)
        if disable:
            self.disabled.add(plugin)
            self._build()
            log.error("plugin disabled", plugin=plugin, failures_in_a_row=streak)
        if self.on_failure is not None:
            self.on_failure(plugin, impl.hook, error, disable)

    def _call(
        self, impl: _Impl, args: tuple[Any, ...], passthrough: type[BaseException] | None = None
    ) -> Any:
        """Call one impl synchronously; return its result, or ``_FAILED``."""
        start = time.perf_counter()
        try:
            if impl.positional:
                result = impl.fn(*args)
            else:
                named = dict(zip(SPEC_ARGS[impl.hook], args, strict=True))
                result = impl.fn(**{k: named[k] for k in impl.argnames})
        except Exception as exc:
            if passthrough is not None and isinstance(exc, passthrough):
                raise
            self._fail(impl, f"{type(exc).__name__}: {exc}")
            return _FAILED
        elapsed = time.perf_counter() - start
        if elapsed > self.budget:
            self._fail(impl, _overrun(elapsed, self.budget))
        elif result is None or not inspect.isawaitable(result):  # None: skip the slow check
            self._ok(impl)
        return result

    async def _acall(
        self, impl: _Impl, args: tuple[Any, ...], passthrough: type[BaseException] | None = None
    ) -> Any:
        """Call one impl that may be async; await it within the budget."""
        result = self._call(impl, args, passthrough)
        if result is None or result is _FAILED or not inspect.isawaitable(result):
            return result
        return await self._settle(impl, result, passthrough)

    async def _settle(
        self, impl: _Impl, awaitable: Awaitable[T], passthrough: type[BaseException] | None = None
    ) -> Any:
        start = time.perf_counter()
        try:
            value = await asyncio.wait_for(awaitable, self.budget)
        except asyncio.TimeoutError:
            self._fail(impl, _overrun(time.perf_counter() - start, self.budget))
            return _FAILED
        except Exception as exc:
            if passthrough is not None and isinstance(exc, passthrough):
                raise
            self._fail(impl, f"{type(exc).__name__}: {exc}")
            return _FAILED
        self._ok(impl)
        return value

    def _notify(self, hook: str, args: tuple[Any, ...]) -> None:
        """Call a notification hook; async impls finish in the background."""
        for impl in self._impls[hook]:
            result = self._call(impl, args)
            if result is not None and result is not _FAILED and inspect.isawaitable(result):
                fut = asyncio.ensure_future(self._settle(impl, result))
                self._background.add(fut)
                fut.add_done_callback(self._background.discard)

    async def drain_background(self) -> None:
        """Wait for notification impls still running in the background (at shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- lifecycle --------------------------------------------------------------------------

    async def startup(self, orchestrator: Orchestrator) -> None:
        for impl in self._impls["alveary_startup"]:
            await self._acall(impl, (orchestrator,))

    async def shutdown(self, orchestrator: Orchestrator) -> None:
        for impl in reversed(self._impls["alveary_shutdown"]):
            await self._acall(impl, (orchestrator,))

    async def tick(self, orchestrator: Orchestrator, now: float) -> None:
        for impl in self._impls["alveary_tick"]:
            await self._acall(impl, (orchestrator, now))

    # -- components -------------------------------------------------------------------------

    def _components(self, hook: str, kind: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        owner: dict[str, str] = {}
        problems = []
        for impl in self._impls[hook]:
            try:
                provided = impl.fn()
            except Exception as exc:
                problems.append(
                    f"plugin {impl.plugin!r}: {hook} raised {type(exc).__name__}: {exc}"
                )
                continue
            for name, component in dict(provided or {}).items():
                if name in found:
                    problems.append(
                        f"plugin {impl.plugin!r}: {kind} {name!r} is already provided by "
                        f"plugin {owner[name]!r}"
                    )
                    continue
                found[name] = component
                owner[name] = impl.plugin
        if problems:
            raise PluginError(problems)
        return found

    def runtimes(self) -> dict[str, Runtime]:
        return self._components("alveary_runtimes", "runtime")

    def stores(self) -> dict[str, Store]:
        return self._components("alveary_stores", "store")

    def strategies(self) -> dict[str, Strategy]:
        return self._components("alveary_strategies", "strategy")

    # -- registration -----------------------------------------------------------------------

    async def agent_validate(self, spec: AgentSpec, principal: Principal) -> AgentSpec:
        """The spec to register: ``spec`` as the plugins amended it (same name)."""
        for impl in self._impls["alveary_agent_validate"]:
            amended = await self._gate(impl, (spec, principal), "agent")
            if isinstance(amended, AgentSpec):
                spec = attrs.evolve(amended, name=spec.name)
        return spec

    async def _gate(self, impl: _Impl, args: tuple[Any, ...], what: str) -> Any:
        try:
            result = await self._acall(impl, args, Rejected)
        except Rejected as exc:
            exc.plugin = exc.plugin or impl.plugin
            raise
        if result is _FAILED:
            raise Rejected(f"could not validate the {what} (the plugin failed)", plugin=impl.plugin)
        return result

    def agent_registered(self, agent: Agent) -> None:
        self._notify("alveary_agent_registered", (agent,))

    def agent_deregistered(self, agent: Agent, reason: str) -> None:
        self._notify("alveary_agent_deregistered", (agent, reason))

    # -- routing ----------------------------------------------------------------------------

    def route_filter(self, task: Task, candidates: Candidates) -> None:
        for impl in self._impls["alveary_route_filter"]:
            kept = self._call(impl, (task, candidates))  # the lazy view: no list per route
            if kept is not None and kept is not _FAILED:
                candidates.replace(kept)

    def route_score(self, task: Task, agent: Agent) -> float:
        total = 0.0
        for impl in self._impls["alveary_route_score"]:
            score = self._call(impl, (task, agent))
            if score is not None and score is not _FAILED:
                total += self._weights.get(impl.plugin, 1.0) * float(score)
        return total

    # -- tasks ------------------------------------------------------------------------------

    async def task_validate(self, spec: TaskSpec, principal: Principal) -> None:
        for impl in self._impls["alveary_task_validate"]:
            await self._gate(impl, (spec, principal), "task")

    async def task_before(self, task: Task, agent: Agent) -> None:
        for impl in self._impls["alveary_task_before"]:
            try:
                await self._acall(impl, (task, agent), Rejected)
            except Rejected as exc:
                exc.plugin = exc.plugin or impl.plugin
                raise

    async def task_after(self, task: Task, agent: Agent, outcome: Outcome) -> Outcome:
        for impl in self._impls["alveary_task_after"]:
            replaced = await self._acall(impl, (task, agent, outcome))
            if isinstance(replaced, Outcome):
                outcome = replaced
        return outcome

    # -- health and scaling -----------------------------------------------------------------

    async def health_check(self, agent: Agent) -> HealthReport | None:
        worst: HealthReport | None = None
        for impl in self._impls["alveary_health_check"]:
            report = await self._acall(impl, (agent,))
            if isinstance(report, HealthReport):
                if not report.source:
                    report = attrs.evolve(report, source=impl.plugin)
                if worst is None or report.status > worst.status:
                    worst = report
        return worst

    def health_changed(
        self, agent: Agent, old: HealthStatus, new: HealthStatus, reason: str
    ) -> None:
        self._notify("alveary_health_changed", (agent, old, new, reason))

    def scale(self, pool: Pool, metrics: PoolMetrics) -> tuple[int, str] | None:
        """The first plugin's proposed size for ``pool`` and which plugin proposed it."""
        for impl in self._impls["alveary_scale"]:
            size = self._call(impl, (pool, metrics))
            if size is not None and size is not _FAILED:
                return int(size), impl.plugin
        return None

    # -- security: fail closed --------------------------------------------------------------

    async def authenticate(self, credentials: Mapping[str, Any]) -> Principal | None:
        for impl in self._impls["alveary_authenticate"]:
            principal = await self._acall(impl, (credentials,))
            if principal is _FAILED:
                return None
            if principal is not None:
                return principal  # type: ignore[no-any-return]
        return None

    async def authorize(self, principal: Principal, action: str, resource: str) -> bool:
        for impl in self._impls["alveary_authorize"]:
            allowed = await self._acall(impl, (principal, action, resource))
            if allowed is _FAILED or allowed is False:
                return False
        return True

    # -- events -----------------------------------------------------------------------------

    def event(self, event: Event) -> None:
        self._notify("alveary_event", (event,))

    # -- configuration ----------------------------------------------------------------------

    def check_config(self, config: Config) -> list[str]:
        """Every plugin's problems with the whole ``config`` (``alveary_check_config``), at
        check time: called directly, so a plugin's failure here is a problem, not a streak."""
        problems: list[str] = []
        for impl in self._impls["alveary_check_config"]:
            where = f"plugin {impl.plugin!r}: alveary_check_config"
            try:
                found = impl.fn(**dict.fromkeys(impl.argnames, config))
            except Exception as exc:
                problems.append(f"{where} raised {type(exc).__name__}: {exc}")
                continue
            if inspect.iscoroutine(found):
                found.close()
                problems.append(f"{where} must be a plain function, not async")
            elif found is not None:
                lines = list(found) if isinstance(found, (list, tuple)) else None
                if lines is None or not all(isinstance(line, str) for line in lines):
                    problems.append(f"{where} returned {shown(found)}, expected a list of lines")
                else:
                    problems.extend(lines)
        return problems


def _overrun(elapsed: float, budget: float) -> str:
    return f"overran its budget ({elapsed * 1000:.0f} ms > {budget * 1000:.0f} ms)"
