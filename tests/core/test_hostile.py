"""Plugins and handlers that attack the kernel: they raise, hang, swallow cancellation, return
the wrong type. Whatever they do, every task ends in exactly one terminal state, the gates stay
closed, and the orchestrator stops."""

from __future__ import annotations

import asyncio
import math
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import alveary
import pytest
from alveary import (
    Agent,
    AgentSpec,
    AgentState,
    Candidates,
    Denied,
    Orchestrator,
    Outcome,
    Pool,
    PoolMetrics,
    Principal,
    Rejected,
    StartFailed,
    Task,
    TaskSpec,
    TaskState,
    hookimpl,
)
from alveary.testing import EventRecorder, ManualClock, echo, orchestrator, until

FAST = {
    "orchestrator": {
        "hook_timeout": 0.05,
        "start_timeout": 0.5,  # also the budget of alveary_startup
        "max_failures": 3,
        "cancel_grace": 0.2,
    }
}


def spec(name: str, handler: Any = echo, *caps: str, capacity: int = 1) -> AgentSpec:
    return AgentSpec(name, frozenset(caps), capacity=capacity, options={"handler": handler})


async def swallow_forever() -> None:
    """Sleeps, and sleeps on whenever it is cancelled: ignores cancellation far longer than
    any budget or grace here. It does give up 3 s after the first cancellation, so that the
    test's event loop can close (closing a loop waits for every task it still runs)."""
    give_up = None
    while give_up is None or time.monotonic() < give_up:
        try:
            await asyncio.sleep(3600 if give_up is None else 0.05)
        except asyncio.CancelledError:
            give_up = give_up or time.monotonic() + 3


async def run_tasks(orch: Orchestrator, n: int = 5, **task: Any) -> list[Outcome]:
    handles = [await orch.submit(TaskSpec("echo", payload=i, **task)) for i in range(n)]
    return [await h.result(timeout=30) for h in handles]


# -- gates fail closed, forever ----------------------------------------------------------------


class RaisingAuth:
    name = "auth"

    @hookimpl
    def alveary_authenticate(self, credentials: Mapping[str, Any]) -> Principal | None:
        raise ConnectionError("identity provider down")


class RaisingAuthz:
    name = "authz"

    @hookimpl
    def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool:
        raise ConnectionError("policy server down")


@pytest.mark.parametrize("plugin", [RaisingAuth, RaisingAuthz])
async def test_a_security_plugin_that_fails_until_disabled_still_denies(plugin: Any) -> None:
    async with orchestrator(FAST, plugin()) as orch:
        for _ in range(6):  # past max_failures: the plugin is disabled on the way
            with pytest.raises(Denied) as failing:
                await orch.submit(TaskSpec("echo"), credentials={"token": "x"})
            assert failing.value.unavailable  # no decision was made about the caller
        assert orch.metrics().disabled_plugins == (plugin.name,)
        with pytest.raises(Denied, match="is disabled") as disabled:
            await orch.register(spec("a1"))
        assert disabled.value.unavailable
        with pytest.raises(Denied, match="is disabled"):
            await orch.submit(TaskSpec("echo"))
        assert orch.agents() == []


class RefusingWithReasons:
    """Refuses with reasons of its own, as a security plugin does for a bad token."""

    name = "refuser"

    @hookimpl
    def alveary_authenticate(self, credentials: Mapping[str, Any]) -> Principal | None:
        if credentials.get("token") != "good":
            raise Denied("invalid token: signature")
        return Principal("alice")

    @hookimpl
    def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool:
        if action == "task.submit":
            raise Denied("no role allows task.submit")
        return True


async def test_a_gate_raising_denied_refuses_with_its_reason_and_is_not_failing() -> None:
    async with orchestrator(FAST, RefusingWithReasons()) as orch:
        for _ in range(6):  # more than max_failures: answers, not failures
            with pytest.raises(Denied, match="refuser: invalid token: signature") as forged:
                await orch.submit(TaskSpec("echo"), credentials={"token": "forged"})
            assert (forged.value.unauthenticated, forged.value.unavailable) == (True, False)
        with pytest.raises(Denied, match=r"no role allows task\.submit") as refused:
            await orch.submit(TaskSpec("echo"), credentials={"token": "good"})
        assert (refused.value.unauthenticated, refused.value.unavailable) == (False, False)
        await orch.register(spec("a1"), credentials={"token": "good"})
        assert orch.metrics().disabled_plugins == ()


class SlowSyncGates:
    name = "slow"

    @hookimpl
    def alveary_task_validate(self, spec: TaskSpec, principal: Principal) -> None:
        time.sleep(0.1)

    @hookimpl
    def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool:
        if action == "agent.register":
            return True
        time.sleep(0.1)
        return True


async def test_sync_gates_that_overrun_refuse() -> None:
    async with orchestrator(FAST, SlowSyncGates()) as orch:
        await orch.register(spec("a1"))
        with pytest.raises(Denied, match="the plugin failed"):
            await orch.submit(TaskSpec("echo"))


class SwallowingValidator:
    name = "validator"

    @hookimpl
    async def alveary_task_validate(self, spec: TaskSpec, principal: Principal) -> None:
        await swallow_forever()


async def test_an_async_gate_that_ignores_cancellation_is_abandoned_and_stays_closed() -> None:
    rec = EventRecorder()
    async with orchestrator(FAST, SwallowingValidator(), rec) as orch:
        with pytest.raises(Rejected, match="the plugin failed"):
            await orch.submit(TaskSpec("echo"))
        assert orch.metrics().disabled_plugins == ("validator",)
        with pytest.raises(Rejected, match="is disabled"):
            await orch.submit(TaskSpec("echo"))
        failed = [e.data for e in rec.events if e.type == "plugin.failed"]
        assert "ignored cancellation" in failed[0]["error"]


# -- wrong return types are the plugin's failure, never the task's ---------------------------


class Liar:
    """Returns a wrong type from every hook it implements."""

    name = "liar"

    @hookimpl
    def alveary_route_score(self, task: Task, agent: Agent) -> Any:
        return "very good"

    @hookimpl
    def alveary_route_filter(self, task: Task, candidates: Sequence[Agent]) -> Any:
        return 42

    @hookimpl
    def alveary_task_after(self, task: Task, agent: Agent, outcome: Outcome) -> Any:
        return Outcome(TaskState.RUNNING)

    @hookimpl
    def alveary_health_check(self, agent: Agent) -> Any:
        return "fine"

    @hookimpl
    def alveary_agent_validate(self, spec: AgentSpec, principal: Principal) -> Any:
        return None


class NanScorer:
    name = "nan"

    @hookimpl
    def alveary_route_score(self, task: Task, agent: Agent) -> float:
        return math.nan

    @hookimpl
    def alveary_task_after(self, task: Task, agent: Agent, outcome: Outcome) -> Any:
        return Outcome(TaskState.PENDING, value="lost?")


@pytest.mark.parametrize("plugin", [Liar, NanScorer])
async def test_wrong_return_values_are_ignored_and_counted(plugin: Any) -> None:
    rec = EventRecorder()
    config = {"orchestrator": {"max_failures": 1000, "health_interval": 0.05}}
    async with orchestrator(config, plugin(), rec) as orch:
        await orch.register(spec("a1", echo, capacity=2))
        await orch.register(spec("a2", echo, capacity=2))
        outcomes = await run_tasks(orch, 20)
        assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 20
        assert [o.value for o in outcomes] == list(range(20))
        assert orch.metrics().plugin_failures[plugin.name] >= 20
        hooks = {e.data["hook"] for e in rec.events if e.type == "plugin.failed"}
        assert "alveary_route_score" in hooks
        assert "alveary_task_after" in hooks


class Scaler:
    name = "scaler"

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    @hookimpl
    def alveary_scale(self, pool: Pool, metrics: PoolMetrics) -> Any:
        return self.answer


@pytest.mark.parametrize("answer", ["many", math.nan, -3, 2.5, True, [4]])
async def test_a_wrong_scale_answer_leaves_the_pool_alone(answer: Any) -> None:
    config = {
        "orchestrator": {"max_failures": 1000},
        "pools": [
            {
                "name": "p",
                "size": {"min": 1, "max": 4},
                "capabilities": ["echo"],
                "options": {"handler": "alveary.testing:echo"},
            }
        ],
    }
    rec = EventRecorder()
    async with orchestrator(config, Scaler(answer), rec) as orch:
        await until(lambda: any(e.type == "plugin.failed" for e in rec.events), timeout=30)
        assert orch.pools["p"].desired == 1
        outcomes = await run_tasks(orch, 3, requires={"echo"})
        assert all(o.ok for o in outcomes)


class Strategist:
    name = "strategist"

    def __init__(self, pick: Any) -> None:
        self.pick = pick

    def select(self, task: Task, candidates: Candidates) -> Agent | None:
        return self.pick(task, candidates)  # type: ignore[no-any-return]

    @hookimpl
    def alveary_strategies(self) -> Mapping[str, Any]:
        return {"bad": self}


class KeepOnlyA2:
    name = "only-a2"

    @hookimpl
    def alveary_route_filter(self, task: Task, candidates: Sequence[Agent]) -> list[Agent]:
        return [a for a in candidates if a.name == "a2"]


def raising(task: Task, candidates: Candidates) -> Agent | None:
    raise RuntimeError("strategy bug")


def outsider(orch: list[Orchestrator]) -> Any:
    """Picks agent a1 whatever the candidates are: bypasses the filter."""
    return lambda task, candidates: orch[0].agent("a1")


async def test_a_raising_strategy_falls_back_to_least_loaded() -> None:
    config = {"orchestrator": {"strategy": "bad", "max_failures": 1000}}
    async with orchestrator(config, Strategist(raising)) as orch:
        await orch.register(spec("a1"))
        outcomes = await run_tasks(orch, 5)
        assert all(o.ok for o in outcomes)
        assert orch.metrics().plugin_failures["strategist"] >= 5


async def test_a_strategy_cannot_bypass_the_filters() -> None:
    holder: list[Orchestrator] = []
    config = {"orchestrator": {"strategy": "bad", "max_failures": 1000}}
    async with orchestrator(config, Strategist(outsider(holder)), KeepOnlyA2()) as orch:
        holder.append(orch)
        await orch.register(spec("a1", echo, capacity=10))
        await orch.register(spec("a2", echo, capacity=10))
        outcomes = await run_tasks(orch, 10)
        assert {o.agent_id for o in outcomes} == {orch.agent("a2").id}


# -- hooks that will not stop ------------------------------------------------------------------


class StubbornTick:
    name = "stubborn"

    @hookimpl
    async def alveary_tick(self, orchestrator: Any, now: float) -> None:
        await swallow_forever()

    @hookimpl
    async def alveary_startup(self, orchestrator: Any) -> None:
        await swallow_forever()


async def test_lifecycle_hooks_that_swallow_cancellation_cannot_wedge_start_tick_or_stop() -> None:
    async with orchestrator(FAST, StubbornTick()) as orch:
        assert orch.metrics().disabled_plugins == ("stubborn",)
        await orch.register(spec("a1"))
        assert all(o.ok for o in await run_tasks(orch, 3))


class SwallowingBefore:
    name = "before"

    @hookimpl
    async def alveary_task_before(self, task: Task, agent: Agent) -> None:
        await swallow_forever()


async def test_a_task_before_gate_that_hangs_cannot_hold_slots() -> None:
    async with orchestrator(FAST, SwallowingBefore()) as orch:
        await orch.register(spec("a1"))
        outcomes = await run_tasks(orch, 3)
        assert all(o.ok for o in outcomes)  # abandoned, plugin disabled, attempts went on
        assert orch.metrics().disabled_plugins == ("before",)


class SlowGates:
    """Gates that take six times ``hook_timeout``: too long unless the plugin asks for the
    attempt's timeout as their budget."""

    name = "slow"

    def __init__(self, patient: bool, hang: bool = False) -> None:
        self.attempt_budget = patient
        self.hang = hang

    @hookimpl
    async def alveary_task_before(self, task: Task, agent: Agent) -> None:
        await asyncio.sleep(3600 if self.hang else 0.3)

    @hookimpl
    async def alveary_task_after(self, outcome: Outcome) -> Outcome:
        await asyncio.sleep(0.3)
        return Outcome(TaskState.FAILED, error="gate says no", retry=False)


@pytest.mark.parametrize("patient", [True, False])
async def test_attempt_budget_lets_gates_hold_the_attempt(patient: bool) -> None:
    async with orchestrator(FAST, SlowGates(patient)) as orch:
        await orch.register(spec("a1"))
        (outcome,) = await run_tasks(orch, 1, timeout=30)
        failures = orch.metrics().plugin_failures.get("slow", 0)
    if patient:  # both gates ran to their end: the replacement outcome is kept
        assert (outcome.state, outcome.error, failures) == (TaskState.FAILED, "gate says no", 0)
    else:  # each call overran hook_timeout: counted, and the outcome left alone
        assert outcome.ok
        assert failures == 2


async def test_a_patient_gate_is_still_bounded_by_the_attempt_timeout() -> None:
    async with orchestrator(FAST, SlowGates(True, hang=True)) as orch:
        await orch.register(spec("a1"))
        (outcome,) = await run_tasks(orch, 1, timeout=0.5, max_attempts=1)
        assert outcome.state is TaskState.DEAD
        assert outcome.error == "timed out after 0.5 s"
        assert "slow" not in orch.metrics().plugin_failures


class FailingTickListening:
    """Its tick always fails; its event hook always works, and sees its own failures."""

    name = "noisy"

    @hookimpl
    def alveary_tick(self, orchestrator: Any, now: float) -> None:
        raise RuntimeError("tick bug")

    @hookimpl
    def alveary_event(self, event: Any) -> None:
        return None


async def test_the_failure_streak_is_per_hook() -> None:
    config = {"orchestrator": {"max_failures": 3, "tick_interval": 0.01}}
    async with orchestrator(config, FailingTickListening()) as orch:
        await until(lambda: orch.metrics().disabled_plugins == ("noisy",), timeout=30)


# -- handlers and runtimes that misbehave ------------------------------------------------------


async def stubborn(task: Task) -> None:
    await swallow_forever()


async def raises_cancelled_at_once(task: Task) -> None:
    raise asyncio.CancelledError


async def raises_cancelled_after_waiting(task: Task) -> None:
    await asyncio.sleep(0)
    raise asyncio.CancelledError


NOT_ASKED = "CancelledError raised by the agent, not asked for"


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (stubborn, "timed out after 0.1 s"),
        (raises_cancelled_at_once, NOT_ASKED),
        (raises_cancelled_after_waiting, NOT_ASKED),
    ],
    ids=["swallows-it", "raises-it-at-once", "raises-it-after-waiting"],
)
async def test_a_handler_that_misuses_cancellation_still_ends_its_task(
    handler: Any, error: str
) -> None:
    """One that swallows it times out, and ``stop`` returns all the same. One that raises it
    when nobody cancelled it fails its attempt: before, the task stayed ``running`` forever
    (its timeout found the attempt already over)."""
    async with orchestrator(FAST) as orch:
        await orch.register(spec("a1", handler))
        handle = await orch.submit(TaskSpec("t", timeout=0.1, max_attempts=2))
        outcome = await handle.result(timeout=30)
        assert (outcome.state, outcome.error, outcome.attempts) == (TaskState.DEAD, error, 2)


async def test_a_hung_sync_handler_starves_no_other_agent() -> None:
    release = threading.Event()

    def hung(task: Task) -> str:
        release.wait(60)
        return "late"

    def quick(task: Task) -> str:
        return "quick"

    try:
        async with orchestrator(FAST) as orch:
            await orch.register(spec("stuck", hung, "slow", capacity=64))
            stuck = [await orch.submit(TaskSpec("s", requires={"slow"})) for _ in range(64)]
            await orch.register(spec("fine", quick, "fast"))
            outcomes = await run_tasks(orch, 5, requires={"fast"})
            assert [o.value for o in outcomes] == ["quick"] * 5
            assert not any(h.done() for h in stuck)
    finally:
        release.set()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in 3.11")
async def test_a_handler_that_times_itself_out_fails_its_attempt_not_its_caller() -> None:
    """``asyncio.timeout`` in a handler's first step binds to the attempt's own task, even
    where that step runs inside ``submit``: expiring, it fails the attempt, and the caller
    waiting for the result is not cancelled."""

    async def impatient(task: Task) -> None:
        async with asyncio.timeout(0.05):  # type: ignore[attr-defined,unused-ignore]
            await asyncio.sleep(60)

    async with orchestrator(FAST) as orch:
        await orch.register(spec("a1", impatient))
        outcome = await (await orch.submit(TaskSpec("t", timeout=30, max_attempts=1))).result(30)
        assert (outcome.state, outcome.error) == (TaskState.DEAD, "TimeoutError")


async def test_a_handler_that_cancels_its_own_task_in_its_first_step_is_cancelled() -> None:
    """The interrupt comes while the first step runs in the caller's place, before the
    attempt has a task to cancel: the task made for the rest is cancelled at once."""
    seen: list[str] = []
    held: list[Orchestrator] = []

    async def regrets(task: Task) -> None:
        await held[0].cancel(task.id)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async with orchestrator(FAST) as orch:
        held.append(orch)
        agent = await orch.register(spec("a1", regrets))
        handle = await orch.submit(TaskSpec("t", timeout=5))
        assert (await handle.result(timeout=30)).state is TaskState.CANCELLED
        assert seen == ["cancelled"]
        assert (agent.in_flight, agent.state) == (0, AgentState.READY)


async def test_a_flood_of_instant_tasks_on_one_agent_recurses_nowhere() -> None:
    """Each attempt's first step runs where it is started, and an attempt that ends there
    frees its slot for the next queued task: that one must not start inside it, and so on
    down the stack, 5,000 deep."""
    opened = asyncio.Event()

    async def handler(task: Task) -> Any:
        if task.payload == "hold":
            await opened.wait()
        return task.payload

    async with orchestrator(FAST) as orch:
        await orch.register(spec("a1", handler))
        first = await orch.submit(TaskSpec("t", "hold"))  # holds the only slot
        handles = [await orch.submit(TaskSpec("t", i)) for i in range(5_000)]
        assert all(h.task.state is TaskState.QUEUED for h in handles)
        opened.set()
        outcomes = await alveary.results([first, *handles], timeout=60)
        assert [o.value for o in outcomes] == ["hold", *range(5_000)]


class HangingRuntime:
    name = "hanging"

    async def start(self, agent: Agent) -> None:
        await swallow_forever()

    async def execute(self, agent: Agent, task: Task) -> Any:
        return None

    async def stop(self, agent: Agent) -> None:
        await swallow_forever()

    @hookimpl
    def alveary_runtimes(self) -> Mapping[str, Any]:
        return {"hanging": self}


async def test_a_runtime_that_hangs_in_start_fails_the_start() -> None:
    config = {"orchestrator": {"start_timeout": 0.1, "cancel_grace": 0.1, "shutdown_timeout": 0.1}}
    async with orchestrator(config, HangingRuntime()) as orch:
        with pytest.raises(StartFailed, match=r"did not start within 0\.1 s"):
            await orch.register(AgentSpec("h", runtime="hanging"))
        assert orch.agents() == []


# -- nothing waits silently --------------------------------------------------------------------


async def test_a_task_nobody_can_take_says_so_and_fails_after_its_queue_timeout() -> None:
    rec = EventRecorder()
    async with orchestrator(None, rec) as orch:
        await orch.register(spec("a1", echo, "cpu"))
        handle = await orch.submit(TaskSpec("train", requires={"gpu"}, queue_timeout=0.2))
        outcome = await handle.result(timeout=30)
        assert outcome.state is TaskState.FAILED
        assert outcome.error == (
            "waited 0.2 s in the queue: no registered agent and no pool has every capability "
            "it requires (gpu)"
        )
        (event,) = [e for e in rec.events if e.type == "routing.unplaceable"]
        assert event.task_id == handle.id
        assert event.data["requires"] == ["gpu"]


async def test_whether_anything_could_take_a_task_can_be_asked_at_any_time() -> None:
    gpus = {"name": "gpus", "capabilities": ["gpu"], "options": {"handler": echo}}
    async with orchestrator({"pools": [gpus]}) as orch:
        await orch.register(spec("a1", echo, "cpu"))
        assert orch.unplaceable(["cpu"]) is None
        assert orch.unplaceable({"gpu"}) is None  # a pool could start one
        assert orch.unplaceable(["cpu", "gpu"]) == (
            "no registered agent and no pool has every capability it requires (cpu, gpu)"
        )
        await orch.deregister("a1")
        assert orch.unplaceable(["cpu"]) is not None


async def test_a_manual_clock_drives_queue_timeouts() -> None:
    clock = ManualClock()
    config = Orchestrator.from_config({"orchestrator": {"tick_interval": 0.01}}).config
    async with Orchestrator(config, clock=clock) as orch:
        handle = await orch.submit(TaskSpec("t", requires={"x"}, queue_timeout=3600))
        await asyncio.sleep(0.1)
        assert not handle.done()
        clock.advance(3600)
        outcome = await handle.result(timeout=30)
        assert outcome.state is TaskState.FAILED
        assert handle.task.times["failed"] == clock.now


class SlowStarts:
    """A runtime whose starts take long; it knows which agents are up."""

    name = "slow-starts"

    def __init__(self) -> None:
        self.up: set[str] = set()
        self.slow = False
        self.undone = 0

    async def start(self, agent: Agent) -> None:
        self.up.add(agent.name)
        try:
            if self.slow:
                await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # cleaning up takes a moment
            self.up.discard(agent.name)
            self.undone += 1
            raise

    async def execute(self, agent: Agent, task: Task) -> Any:
        return task.payload

    async def stop(self, agent: Agent) -> None:
        self.up.discard(agent.name)

    @hookimpl
    def alveary_runtimes(self) -> Mapping[str, Any]:
        return {"slow": self}


async def test_stopping_while_pool_agents_start_leaves_no_agent_up() -> None:
    runtime = SlowStarts()
    config = {
        "orchestrator": {"tick_interval": 0.01},
        "pools": [{"name": "p", "runtime": "slow", "size": {"min": 1, "max": 4}}],
    }
    scaler = Scaler(1)
    async with orchestrator(config, runtime, scaler) as orch:
        assert runtime.up == {"p-1"}
        runtime.slow = True
        scaler.answer = 4
        await until(lambda: orch.pools["p"].starting == 3, timeout=30)
    assert runtime.undone == 3
    assert runtime.up == set()
