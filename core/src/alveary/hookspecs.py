"""The hook specifications: every way a plugin can take part in orchestration.

A plugin implements a hook by defining a method of the same name marked ``@alveary.hookimpl``;
it may accept any subset of the spec's arguments, in any order. The kernel calls hooks in the
order of ``[plugins] enabled`` (built-ins first) and isolates them from each other:

- a hook that raises, runs longer than ``[orchestrator] hook_timeout`` or returns a value of
  the wrong type is logged, counted and reported as a ``plugin.failed`` event; its result is
  ignored, and the other plugins still run;
- after ``[orchestrator] max_failures`` failures in a row of one hook a plugin is disabled for
  the rest of the run (a ``plugin.disabled`` event says so); so is an async hook that ignores
  cancellation when its budget is spent: the kernel stops waiting for it and abandons it;
- gates fail closed: while a plugin implementing ``alveary_authenticate``,
  ``alveary_authorize``, ``alveary_agent_validate``, ``alveary_task_validate`` or
  ``alveary_command_check`` fails, overruns or is disabled, that gate refuses;
- a hook marked *async ok* may be an ``async def``; the kernel awaits it within the budget.
  The others are on the hot path and must be plain functions.

The ``orchestrator`` the lifecycle hooks receive is typed as ``alveary.Host``: what a plugin
may read and call.

This module is the reference for plugin authors; ``docs/hooks.md`` is generated from it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from ._records import (
    Agent,
    AgentSpec,
    Event,
    HealthReport,
    Outcome,
    Pool,
    PoolMetrics,
    Principal,
    Task,
    TaskSpec,
)
from ._states import AgentState, HealthStatus

if TYPE_CHECKING:
    from ._components import Runtime, Store, Strategy
    from ._config import Config
    from ._host import Host
    from ._verdicts import CommandVerdict

hookspec = pluggy.HookspecMarker("alveary")
"""Marks a hook specification. Only the kernel declares specs."""

hookimpl = pluggy.HookimplMarker("alveary")
"""Marks a plugin method as the implementation of the hook with the same name."""


# -- lifecycle -------------------------------------------------------------------------------


@hookspec
def alveary_startup(orchestrator: Host) -> None:
    """Called once when the orchestrator starts, before pools are started and before any
    agent registers, in config order.

    Set up what the plugin needs for the run: connections, background tasks, state loaded
    from the store. *Async ok.* Its budget is ``[orchestrator] start_timeout``, not
    ``hook_timeout``. The return value is ignored. If it raises, the failure is
    reported and counted like any other and the orchestrator still starts, except for
    ``alveary.StartFailed``: raise it when the run is pointless without what failed (a server
    that cannot listen), and ``start()`` fails with it, after shutting down what started.
    """


@hookspec
def alveary_shutdown(orchestrator: Host) -> None:
    """Called once when the orchestrator stops, after agents were drained and stopped, in
    reverse config order.

    Release what ``alveary_startup`` acquired and flush buffers. *Async ok.* Its budget is
    what is left of the stop's ``shutdown_timeout`` (at least ``hook_timeout``). The return
    value is ignored. If it raises, the failure is reported and the other plugins still shut down.
    """


@hookspec
def alveary_tick(orchestrator: Host, now: float) -> None:
    """Called every ``[orchestrator] tick_interval`` seconds with the wall-clock time.

    For periodic work: checking heartbeats, rebalancing, flushing metrics. *Async ok*, but a
    tick that overruns its budget counts as a failure, so hand long work to a background task.
    The return value is ignored. If it raises, the failure is reported and counted, and the
    next tick calls it again.
    """


# -- components ------------------------------------------------------------------------------


@hookspec
def alveary_runtimes() -> Mapping[str, Runtime]:
    """Return the runtimes this plugin provides, by name (``{"local": runtime}``).

    Called once at start-up. A runtime starts, runs and stops agents (see
    ``alveary.Runtime``); ``[[pools]] runtime`` and ``AgentSpec.runtime`` name one.
    Two plugins providing the same name is a start-up error; so is an implementation that
    raises.
    """
    raise NotImplementedError


@hookspec
def alveary_stores() -> Mapping[str, Store]:
    """Return the stores this plugin provides, by name (``{"memory": store}``).

    Called once at start-up; ``[orchestrator] store`` selects one (see ``alveary.Store``).
    Two plugins providing the same name is a start-up error; so is an implementation that
    raises.
    """
    raise NotImplementedError


@hookspec
def alveary_strategies() -> Mapping[str, Strategy]:
    """Return the routing strategies this plugin provides, by name.

    Called once at start-up; ``[orchestrator] strategy`` selects one (see
    ``alveary.Strategy``). Two plugins providing the same name is a start-up error; so is an
    implementation that raises.
    """
    raise NotImplementedError


@hookspec
def alveary_check_config(config: Config, plugins: Mapping[str, object]) -> Sequence[str] | None:
    """Check this plugin's settings against the whole configuration: what its own table
    cannot see alone, such as a policy naming a pool that ``[[pools]]`` does not declare.
    ``plugins`` are the enabled plugins by name, built-ins included, for a setting that
    depends on what another does (the gateway's non-loopback ``listen`` needs a plugin that
    implements a security hook).

    Called by ``alveary check`` and whenever an orchestrator is built, after every plugin
    was configured and before anything starts. Return the problems, one line each, made
    with ``config.source.error(key, message)``, where ``key`` is the dotted key as a tuple
    (``("plugins", "autoscale", "pools", "batch")``), so each line names the file, the line
    and the key like the kernel's own; return ``None`` or an empty list when all is well.
    They are reported together with every other problem, sorted by line. A plain function:
    it reads the config and does no I/O. An implementation that raises, or returns anything
    but lines, is reported as a problem of its plugin.
    """


# -- registration ----------------------------------------------------------------------------


@hookspec
def alveary_agent_validate(spec: AgentSpec, principal: Principal) -> AgentSpec | None:
    """Called before an agent is registered, with the principal registering it.

    Raise ``alveary.Rejected`` with a reason to refuse the agent; ``register`` then raises
    it to the caller. Return an amended ``AgentSpec`` (for example with its ``capacity`` set
    from a preset named in its labels) to register that instead, or ``None`` to keep it; each
    plugin sees the previous one's spec, and the agent keeps its name. *Async ok.* Any other
    exception, or an overrun, counts as a plugin failure and also refuses the agent:
    validation fails closed.
    """


@hookspec
def alveary_agent_registered(agent: Agent) -> None:
    """Notification: an agent was registered and is ready for work.

    Called in config order after the agent's runtime started it. Must not block: hand slow
    work to a task. The return value is ignored. If it raises, the failure is reported and
    counted; the agent stays registered.
    """


@hookspec
def alveary_agent_deregistered(agent: Agent, reason: str) -> None:
    """Notification: an agent left, with why (``"deregistered"``, ``"failed"``,
    ``"scaled down"``, ``"shutdown"``, ...).

    Its in-flight tasks have already finished or been re-queued. Must not block. The return
    value is ignored. If it raises, the failure is reported and counted.
    """


@hookspec
def alveary_agent_state_changed(
    agent: Agent, old: AgentState, new: AgentState, reason: str
) -> None:
    """Notification: an agent moved from ``old`` to ``new`` (``ready`` <-> ``busy``,
    ``draining``, ``unhealthy``, ...), with why when there is a reason.

    Called on the hot path, after the kernel's own index is updated: a plugin that keeps a
    view of the fleet (loads, free slots) follows it here instead of guessing. Must not
    block. The return value is ignored. If it raises, the failure is reported and counted.
    """


# -- routing (hot path: plain functions, no I/O) ---------------------------------------------


@hookspec
def alveary_route_filter(task: Task, candidates: Sequence[Agent]) -> Sequence[Agent] | None:
    """Narrow the agents that may take ``task``.

    ``candidates`` are ready agents with every capability the task requires and a free slot,
    as a lazy view (``alveary.Candidates``): ``len`` and ``in`` cost O(1), iterating O(n), so
    a filter with nothing to do returns ``None`` before iterating. Return the subset to keep
    (order does not matter), or ``None`` to keep them all. Each plugin sees what the previous
    one kept. Returning agents that were not candidates is
    ignored. If it raises, its filter is skipped for this task.
    """


@hookspec
def alveary_route_score(task: Task, agent: Agent) -> float | None:
    """Score how well ``agent`` suits ``task``, in ``[0, 1]`` (higher is better).

    Called for the candidates a strategy asks to score (a small sample by default). Each
    plugin's score is multiplied by its weight in ``[routing.weights]`` (default 1.0) and the
    products are summed. Returning ``None`` abstains. If it raises, it counts as 0.
    """


# -- tasks -----------------------------------------------------------------------------------


@hookspec
def alveary_task_validate(spec: TaskSpec, principal: Principal) -> None:
    """Called before a task is accepted, with the principal submitting it.

    Raise ``alveary.Rejected`` with a reason to refuse it; ``submit`` raises it to the
    caller. *Async ok.* Any other exception, or an overrun, also refuses the task. The
    return value is ignored.
    """


@hookspec
def alveary_task_before(task: Task, agent: Agent) -> None:
    """Called right before ``agent`` runs an attempt of ``task``: a gate.

    Raise ``alveary.Rejected`` to refuse this attempt; it then counts as a failed attempt
    with that reason, and the task is retried while attempts remain. *Async ok.* The attempt's
    timeout already runs. Any other exception, or an overrun, counts as a plugin failure and
    does not stop the attempt. The return value is ignored. A plugin whose gates take longer
    than ``hook_timeout`` (they run commands) sets ``attempt_budget = True`` on its class:
    its calls here and in ``alveary_task_after`` are then bounded by the attempt's timeout.
    """


@hookspec
def alveary_task_after(task: Task, agent: Agent, outcome: Outcome) -> Outcome | None:
    """Called after each attempt that ran to an end (``succeeded`` or ``failed``).

    Return a replacement ``Outcome`` (for example, fail a success that misses a quality
    gate) or ``None`` to keep it; each plugin sees the previous one's outcome. Only a terminal
    state is accepted (``succeeded``, ``failed`` with ``retry`` true or false, ``cancelled``,
    ``dead``); the kernel keeps the attempt's agent and count. *Async ok.* If it raises,
    overruns or returns anything else, its replacement is ignored. The attempt's timeout still
    runs: with ``attempt_budget = True`` (see ``alveary_task_before``) it is the budget.
    """


@hookspec
def alveary_attempt_finished(task: Task, agent: Agent, outcome: Outcome) -> None:
    """Notification: an attempt of ``task`` on ``agent`` ended, however it ended (succeeded,
    failed, timed out, cancelled, interrupted because the agent left), after its slot was
    freed and before the task is retried or settled.

    Always called once per attempt that was assigned, unlike ``alveary_task_after``. For
    plugins that count what agents do (success rates, latencies, in-flight work). Must not
    block. The return value is ignored. If it raises, the failure is reported and counted.
    """


# -- health ----------------------------------------------------------------------------------


@hookspec
def alveary_health_check(agent: Agent) -> HealthReport | None:
    """Check an agent, every ``[orchestrator] health_interval`` seconds, or when the plugin
    that claimed the checks (``Orchestrator.claim_health_checks``) asks
    (``Orchestrator.check_health``).

    Return a ``HealthReport`` or ``None`` to abstain. *Async ok.* The worst report wins;
    a change of the agent's health is announced by ``alveary_health_changed``. ``unhealthy``
    takes the agent out of routing; ``failed`` re-queues its tasks and removes it. If the
    check raises, it abstains.
    """


@hookspec
def alveary_health_changed(agent: Agent, old: HealthStatus, new: HealthStatus, reason: str) -> None:
    """Notification: an agent's health changed from ``old`` to ``new``, with why.

    Must not block. The return value is ignored. If it raises, the failure is reported and
    counted.
    """


# -- scaling ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
def alveary_scale(pool: Pool, metrics: PoolMetrics) -> int | None:
    """Propose a size for ``pool`` at each tick, given what it is doing.

    Return the desired number of agents, or ``None`` to leave it to the next plugin. The first
    answer wins; the kernel clamps it to the pool's ``size`` and starts or drains agents.
    Scale-down only removes agents with no work in flight. If it raises, it abstains.
    """


# -- security (decisions fail closed) --------------------------------------------------------


@hookspec(firstresult=True)
def alveary_authenticate(credentials: Mapping[str, Any]) -> Principal | None:
    """Turn credentials (a bearer token, an API key, ...) into a ``Principal``.

    Return the principal, or ``None`` if the credentials are not for this plugin. The first
    non-``None`` answer wins; when every plugin answers ``None`` the caller is
    refused with ``alveary.Denied``. Raise ``alveary.Denied`` (or a subclass) to refuse
    with a reason of your own: that is an answer, not a failure of the plugin. Only called
    when some plugin implements it. *Async ok.* If it raises anything else, the caller is
    refused.
    """


@hookspec
def alveary_authorize(principal: Principal, action: str, resource: str) -> bool | None:
    """May ``principal`` do ``action`` to ``resource``? ``alveary.ACTIONS`` lists every
    action and what its resource is (a task kind, an agent or pool name, or ``*``).

    Return ``True`` to allow, ``False`` to deny or ``None`` to abstain; any ``False`` denies.
    Raise ``alveary.Denied`` to deny with the reason (the rule that is missing, a rate limit);
    it reaches the caller as raised. *Async ok.* If it raises anything else or overruns, the
    action is denied.
    """


@hookspec
def alveary_command_check(
    task: Task, agent: Agent, command: str | Sequence[str], workspace: str | None
) -> CommandVerdict | None:
    """May a runtime run ``command``, built from ``task``'s payload for ``agent``?

    ``command`` is an argument vector run without a shell, or shell text; ``workspace`` the
    directory it runs in, if any. Runtimes ask through ``Host.guard_command`` before running
    a command made from a task (the ``subprocess`` runtime's tools). Return an
    ``alveary.CommandVerdict`` (``allow``, ``log``, ``approve`` or ``block``) or ``None`` to
    abstain; the strictest answer wins. ``approve`` holds the attempt until someone approves
    or rejects it (``Orchestrator.decide``); a blocked or rejected command fails the task
    without retries. *Async ok.* If it raises, overruns or answers something else, the
    command is blocked.
    """


# -- events ----------------------------------------------------------------------------------


@hookspec
def alveary_event(event: Event) -> None:
    """Notification: something happened. Every agent and task transition, every plugin
    failure, every scaling decision is an event, delivered in order.

    Must not block: this is called on the hot path. Buffer and flush in ``alveary_tick``.
    The return value is ignored. If it raises, the failure is counted but not reported back
    through this hook.

    A plugin that needs only some types says which with an ``event_types`` attribute: a
    set of types, or any object that answers ``type in event_types`` (asked once per type).
    It then gets only those, and an event that no plugin and no ``events()`` subscriber
    wants is never built: per task, several fewer objects made and calls made.
    ``Host.metrics().events`` counts every type emitted all the same.
    """


# -- metadata the kernel uses -----------------------------------------------------------------

HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, fn in dict(globals()).items() if name.startswith("alveary_") and callable(fn)
)
"""Every hook name, in the order this module declares them."""

SPEC_ARGS: dict[str, tuple[str, ...]] = {
    hook: tuple(inspect.signature(globals()[hook]).parameters) for hook in HOOK_NAMES
}
"""Each hook's argument names, as its spec declares them."""

SYNC_ONLY = frozenset(
    {
        "alveary_runtimes",
        "alveary_stores",
        "alveary_strategies",
        "alveary_agent_state_changed",
        "alveary_route_filter",
        "alveary_route_score",
        "alveary_scale",
    }
)
"""Hooks on the hot path or at start-up that must be plain functions."""

GATES = frozenset(
    {
        "alveary_authenticate",
        "alveary_authorize",
        "alveary_agent_validate",
        "alveary_task_validate",
        "alveary_command_check",
    }
)
"""Hooks that decide whether something may happen: they fail closed."""
