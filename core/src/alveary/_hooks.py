"""The typed facade through which the kernel calls every hook.

pluggy validates and collects the implementations; this module calls them itself, one by one in
config order, so that one plugin's exception, overrun or wrong answer never stops the others
(see ``_isolation``). Gates fail closed: an error, an overrun or a disabled implementer refuses.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from . import _checks as checks
from ._builtins.least_loaded import LeastLoaded
from ._components import Runtime, Store, Strategy
from ._errors import Denied, PluginError, Rejected, StartFailed
from ._isolation import FAILED, Isolation, describe, unavailable
from ._records import (
    Agent,
    AgentSpec,
    HealthReport,
    Outcome,
    Pool,
    PoolMetrics,
    Principal,
    Task,
    TaskSpec,
)
from ._states import AgentState, HealthStatus
from ._values import shown
from ._verdicts import CommandVerdict, strictest
from .hookspecs import HOOK_NAMES, SPEC_ARGS, SYNC_ONLY

if TYPE_CHECKING:
    from ._config import Config
    from ._host import Host
    from ._routing import Candidates

__all__ = ["HOOK_NAMES", "SPEC_ARGS", "SYNC_ONLY", "Hooks"]

_KINDS: dict[str, tuple[str, type[Any]]] = {
    "alveary_runtimes": ("runtime", Runtime),
    "alveary_stores": ("store", Store),
    "alveary_strategies": ("strategy", Strategy),
}


class Hooks(Isolation):
    """Calls each hook's implementations with isolation, validation and failure accounting."""

    # -- lifecycle --------------------------------------------------------------------------

    async def startup(self, host: Host, budget: float) -> None:
        """Run each plugin's set-up, within ``budget`` each (``start_timeout``: opening a
        connection or binding a server takes longer than a routing decision)."""
        for impl in self.impls["alveary_startup"]:  # StartFailed fails the start itself
            await self.acall(impl, (host,), passthrough=StartFailed, budget=budget)

    async def shutdown(self, host: Host, budget: float) -> None:
        """Run each plugin's clean-up, within ``budget`` each (what is left of the stop's
        ``shutdown_timeout``, at least ``hook_timeout``: closing a server takes a moment)."""
        for impl in reversed(self.impls["alveary_shutdown"]):
            await self.acall(impl, (host,), budget=budget)

    async def tick(self, host: Host, now: float) -> None:
        for impl in self.impls["alveary_tick"]:
            await self.acall(impl, (host, now))

    # -- components -------------------------------------------------------------------------

    def components(self, hook: str) -> dict[str, Any]:
        """Name -> component from every plugin implementing ``hook``; raises ``PluginError``
        for a raising implementation, a duplicate name or an object of the wrong kind."""
        kind, protocol = _KINDS[hook]
        found: dict[str, Any] = {}
        problems = []
        for impl in self.impls[hook]:
            where = f"plugin {impl.plugin!r}: {hook}"
            try:
                provided = impl.fn()
            except Exception as exc:
                problems.append(f"{where} raised {describe(exc)}")
                continue
            if provided is None:
                continue
            if not isinstance(provided, Mapping):
                problems.append(f"{where} returned {checks.kind(provided)}, expected a mapping")
                continue
            for name, component in provided.items():
                owner = self.owners.get((kind, name))
                if not isinstance(name, str) or not name:
                    problems.append(f"{where}: {kind} names must be strings, got {name!r}")
                elif owner is not None:
                    problems.append(
                        f"{where}: {kind} {name!r} is already provided by plugin {owner!r}"
                    )
                elif not isinstance(component, protocol):
                    problems.append(
                        f"{where}: {kind} {name!r} is {checks.kind(component)}, which lacks the "
                        f"methods of alveary.{protocol.__name__}"
                    )
                else:
                    found[name] = component
                    self.owners[(kind, name)] = impl.plugin
        if problems:
            raise PluginError(problems)
        return found

    def select(self, strategy: Strategy, owner: str, task: Task, cands: Candidates) -> Agent | None:
        """Ask the configured strategy (provided by plugin ``owner``); if it raises or picks an
        agent that is not a candidate (after the filters), count its plugin's failure and pick
        least-loaded instead."""
        if owner not in self.disabled:
            try:
                agent = strategy.select(task, cands)
            except Exception as exc:
                self.fail(owner, "strategy.select", describe(exc))
            else:
                if agent is None or (isinstance(agent, Agent) and agent in cands):
                    self.succeed(owner, "strategy.select")
                    return agent
                self.fail(owner, "strategy.select", f"picked {checks.kind(agent)}, not a candidate")
        return _FALLBACK.select(task, cands)

    # -- registration -----------------------------------------------------------------------

    async def agent_validate(self, spec: AgentSpec, principal: Principal) -> AgentSpec:
        """The spec to register: ``spec`` as the plugins amended it (same name)."""
        for impl in self.gate("alveary_agent_validate", "agent"):
            amended = await self._gated(impl, (spec, principal), "agent", checks.agent_spec)
            if amended is not None:
                spec = attrs.evolve(amended, name=spec.name)
        return spec

    def agent_registered(self, agent: Agent) -> None:
        self.notify(self.impls["alveary_agent_registered"], (agent,))

    def agent_deregistered(self, agent: Agent, reason: str) -> None:
        self.notify(self.impls["alveary_agent_deregistered"], (agent, reason))

    def agent_state_changed(
        self, agent: Agent, old: AgentState, new: AgentState, reason: str
    ) -> None:
        self.notify(self.impls["alveary_agent_state_changed"], (agent, old, new, reason))

    # -- routing ----------------------------------------------------------------------------

    def route_filter(self, task: Task, candidates: Candidates) -> None:
        for impl in self.impls["alveary_route_filter"]:
            kept = self.call(impl, (task, candidates), checks.agents)  # the lazy view: no list
            if kept is not None and kept is not FAILED and kept is not candidates:
                candidates.replace(kept)

    def route_score(self, task: Task, agent: Agent) -> float:
        total = 0.0
        for impl in self.impls["alveary_route_score"]:
            score = self.call(impl, (task, agent), checks.finite_number)
            if score is not None and score is not FAILED:
                total += self.weights.get(impl.plugin, 1.0) * score
        return total

    # -- tasks ------------------------------------------------------------------------------

    async def task_validate(self, spec: TaskSpec, principal: Principal) -> None:
        for impl in self.gate("alveary_task_validate", "task"):
            await self._gated(impl, (spec, principal), "task", None)

    async def task_before(self, task: Task, agent: Agent) -> None:
        for impl in self.impls["alveary_task_before"]:
            budget = task.spec.timeout if impl.patient else None
            try:
                await self.acall(impl, (task, agent), passthrough=Rejected, budget=budget)
            except Rejected as exc:
                exc.plugin = exc.plugin or impl.plugin
                raise

    async def task_after(self, task: Task, agent: Agent, outcome: Outcome) -> Outcome:
        for impl in self.impls["alveary_task_after"]:  # ``acall``, without a coroutine per call
            args, budget = (task, agent, outcome), task.spec.timeout if impl.patient else None
            replaced = self.call(impl, args, checks.terminal_outcome, None, budget)
            if replaced is not None and replaced is not FAILED and inspect.isawaitable(replaced):
                replaced = await self.settle(impl, replaced, checks.terminal_outcome, budget=budget)
            if replaced is not None and replaced is not FAILED:
                outcome = attrs.evolve(
                    replaced, agent_id=outcome.agent_id, attempts=outcome.attempts
                )
        return outcome

    def attempt_finished(self, task: Task, agent: Agent, outcome: Outcome) -> None:
        self.notify(self.impls["alveary_attempt_finished"], (task, agent, outcome))

    # -- health and scaling -----------------------------------------------------------------

    async def health_check(self, agent: Agent) -> HealthReport | None:
        worst: HealthReport | None = None
        for impl in self.impls["alveary_health_check"]:
            report = await self.acall(impl, (agent,), checks.health_report)
            if report is not None and report is not FAILED:
                if not report.source:
                    report = attrs.evolve(report, source=impl.plugin)
                if worst is None or report.status > worst.status:
                    worst = report
        return worst

    def health_changed(
        self, agent: Agent, old: HealthStatus, new: HealthStatus, reason: str
    ) -> None:
        self.notify(self.impls["alveary_health_changed"], (agent, old, new, reason))

    def scale(self, pool: Pool, metrics: PoolMetrics) -> tuple[int, str] | None:
        """The first plugin's proposed size for ``pool`` and which plugin proposed it."""
        for impl in self.impls["alveary_scale"]:
            size = self.call(impl, (pool, metrics), checks.whole_number)
            if size is not None and size is not FAILED:
                return int(size), impl.plugin
        return None

    # -- security: fail closed --------------------------------------------------------------

    async def authenticate(self, credentials: Mapping[str, Any]) -> Principal:
        """The principal the first answering plugin names; raises ``Denied`` when none does,
        when an implementer raises it, or when one fails, overruns or is disabled."""
        for impl in self.gate("alveary_authenticate", "authentication"):
            principal = await self._refusing(impl, (credentials,), checks.principal)
            if principal is FAILED:
                raise unavailable("not authenticated (the plugin failed)", impl.plugin)
            if principal is not None:
                return principal  # type: ignore[no-any-return]
        raise Denied("not authenticated")

    async def authorize(self, principal: Principal, action: str, resource: str) -> None:
        """Raise ``Denied`` unless every implementer allows or abstains; an implementer may
        raise ``Denied`` itself to say why."""
        for impl in self.gate("alveary_authorize", "authorization"):
            allowed = await self._refusing(impl, (principal, action, resource), checks.boolean)
            if allowed is FAILED:
                raise unavailable(f"{action} {resource}: the plugin failed", impl.plugin)
            if allowed is False:
                raise Denied(f"{principal.id} may not {action} {resource}", plugin=impl.plugin)

    async def command_check(
        self, task: Task, agent: Agent, command: str | Sequence[str], workspace: str | None
    ) -> CommandVerdict:
        """The strictest verdict of the command guards (``allow`` with none); ``block`` when
        one fails, overruns, answers something else or is disabled."""
        try:
            impls = self.gate("alveary_command_check", "command")
        except Rejected as exc:
            return CommandVerdict("block", reason=str(exc))
        verdicts = []
        for impl in impls:
            verdict = await self.acall(impl, (task, agent, command, workspace), checks.verdict)
            if verdict is FAILED:
                reason = f"the guard of plugin {impl.plugin!r} failed"
                return CommandVerdict("block", reason=reason)
            if verdict is not None:
                verdicts.append(verdict)
        return strictest(verdicts)

    async def _refusing(self, impl: Any, args: tuple[Any, ...], check: Any) -> Any:
        """Call a security gate that may raise ``Denied`` with its own reason (a rate limit,
        the rule that is missing): that is an answer, not a plugin failure."""
        try:
            return await self.acall(impl, args, check, passthrough=Denied)
        except Denied as exc:
            exc.plugin = exc.plugin or impl.plugin
            raise

    async def _gated(self, impl: Any, args: tuple[Any, ...], what: str, check: Any) -> Any:
        try:
            result = await self.acall(impl, args, check, passthrough=Rejected)
        except Rejected as exc:
            exc.plugin = exc.plugin or impl.plugin
            raise
        if result is FAILED:
            raise Rejected(f"could not validate the {what} (the plugin failed)", plugin=impl.plugin)
        return result

    # -- configuration ----------------------------------------------------------------------

    def check_config(self, config: Config, plugins: Mapping[str, object]) -> list[str]:
        """Every plugin's problems with the whole ``config`` (``alveary_check_config``), at
        check time: called directly, so a plugin's failure here is a problem, not a streak."""
        problems: list[str] = []
        for impl in self.impls["alveary_check_config"]:
            where = f"plugin {impl.plugin!r}: alveary_check_config"
            try:
                found = impl.fn(config, plugins)
            except Exception as exc:
                problems.append(f"{where} raised {describe(exc)}")
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


_FALLBACK = LeastLoaded()
"""What routes when the configured strategy fails: never strand a task on a broken plugin."""
