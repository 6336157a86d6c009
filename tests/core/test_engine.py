"""The orchestration engine through its public API: agents, tasks, queueing, retries, routing,
health and security, each against a real ``Orchestrator`` with in-process agents."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import pytest
from alveary import (
    Agent,
    AgentSpec,
    AgentState,
    AlvearyError,
    Denied,
    Event,
    HealthReport,
    HealthStatus,
    NotFound,
    Orchestrator,
    Outcome,
    PermanentFailure,
    Principal,
    Priority,
    Rejected,
    StartFailed,
    Task,
    TaskHandle,
    TaskSpec,
    TaskState,
    hookimpl,
)
from alveary.testing import EventRecorder, echo, orchestrator

# -- helpers ----------------------------------------------------------------------------------

TERMINAL = {"succeeded", "failed", "cancelled", "dead"}

NEXT: dict[str | None, frozenset[str]] = {
    None: frozenset({"pending"}),
    "pending": frozenset({"queued", "assigned", "cancelled"}),
    "queued": frozenset({"assigned", "cancelled"}),
    "assigned": frozenset({"running", "pending", "failed", "dead", "cancelled"}),
    "running": frozenset({"pending", "succeeded", "failed", "dead", "cancelled"}),
}
"""Which task state may follow which, as per-task events show them."""


def check_order(types: Sequence[str]) -> None:
    """Fail unless ``types`` (one task's event types) walk the task state machine from
    ``pending`` to exactly one terminal state."""
    states = [t.removeprefix("task.") for t in types if t.startswith("task.")]
    previous: str | None = None
    for i, state in enumerate(states):
        assert state in NEXT.get(previous, frozenset()), f"{previous} -> {state} in {states}"
        if state in TERMINAL:
            assert i == len(states) - 1, f"events after {state}: {states}"
        previous = state
    assert previous in TERMINAL, f"no terminal state in {states}"


class Gate:
    """An async handler that holds each task until ``open()`` and records the order of
    payloads it started, and which tasks saw a cancellation."""

    def __init__(self) -> None:
        self.started: list[Any] = []
        self.cancelled: list[str] = []
        self._open = asyncio.Event()

    def open(self) -> None:
        self._open.set()

    async def __call__(self, task: Task) -> Any:
        self.started.append(task.payload)
        try:
            await self._open.wait()
        except asyncio.CancelledError:
            self.cancelled.append(task.id)
            raise
        return task.payload


async def hang(task: Task) -> None:
    """Never finishes by itself: only a timeout or a cancellation ends it."""
    await asyncio.Event().wait()


async def results(*handles: TaskHandle) -> list[Outcome]:
    return list(await asyncio.gather(*(h.result(timeout=5) for h in handles)))


def agent_spec(name: str, handler: object, *caps: str, capacity: int = 1) -> AgentSpec:
    return AgentSpec(name, frozenset(caps), capacity=capacity, options={"handler": handler})


async def assigned_not_started(orch: Orchestrator) -> tuple[TaskHandle, Agent]:
    """A task assigned to a new agent ``a1`` whose attempt has not run a single step.

    An attempt's first step runs where it is started, so the state is brief: the attempt
    started while another one's first step ran. Here ``hold`` ends in a task, frees the slot
    for ``quick``, whose first step ends it and frees the slot for ``hang``: that one is a
    task scheduled to run, and the test's turn comes first."""
    opened = asyncio.Event()

    async def handler(task: Task) -> None:
        if task.payload == "hold":
            await opened.wait()
        elif task.payload == "hang":
            await asyncio.Event().wait()

    agent = await orch.register(agent_spec("a1", handler))
    hold = await orch.submit(TaskSpec("t", "hold"))
    await orch.submit(TaskSpec("t", "quick"))
    handle = await orch.submit(TaskSpec("t", "hang", max_attempts=1))
    await asyncio.sleep(0)  # hold's task takes its first step: it waits for ``opened``
    opened.set()  # schedules hold's task; the test's next step comes after it
    for _ in range(3):  # one turn; before 3.11, quick is a task of its own: two
        await asyncio.sleep(0)
        if handle.task.state is not TaskState.QUEUED:
            break
    assert hold.done()
    assert handle.task.state is TaskState.ASSIGNED
    return handle, agent


# -- register / submit / result ---------------------------------------------------------------


async def test_submitted_task_runs_on_a_registered_agent_and_returns_its_value() -> None:
    async with orchestrator() as orch:
        agent = await orch.register(agent_spec("a1", echo, "echo"))
        handle = await orch.submit(TaskSpec("echo", payload={"n": 1}, requires={"echo"}))
        outcome = await handle.result(timeout=5)
        assert outcome.state is TaskState.SUCCEEDED
        assert outcome.value == {"n": 1}
        assert outcome.agent_id == agent.id
        assert outcome.attempts == 1
        assert handle.done()
        assert orch.get_task(handle.id) is handle.task
        assert (await orch.task(handle.id).result()).value == {"n": 1}


async def test_sync_handler_runs_in_a_worker_thread() -> None:
    def where(task: Task) -> int:
        return threading.get_ident()

    async with orchestrator() as orch:
        await orch.register(agent_spec("a1", where))
        outcome = await (await orch.submit(TaskSpec("where"))).result(timeout=5)
        assert outcome.state is TaskState.SUCCEEDED
        assert outcome.value != threading.get_ident()


async def test_handler_named_by_a_module_function_string_resolves() -> None:
    async with orchestrator() as orch:
        await orch.register(agent_spec("a1", "alveary.testing:echo"))
        outcome = await (await orch.submit(TaskSpec("echo", payload="hi"))).result(timeout=5)
        assert outcome.value == "hi"
        with pytest.raises(StartFailed, match="cannot import handler"):
            await orch.register(agent_spec("a2", "alveary.testing:no_such_handler"))
        assert [a.name for a in orch.agents()] == ["a1"]


async def test_registering_a_name_already_taken_fails() -> None:
    async with orchestrator() as orch:
        first = await orch.register(agent_spec("a1", echo))
        with pytest.raises(ValueError, match="already registered"):
            await orch.register(agent_spec("a1", echo, "other"))
        assert orch.agents() == [first]
        assert orch.agent("a1") is first


# -- deregister, drain, cancel ----------------------------------------------------------------


async def test_deregister_with_drain_lets_in_flight_work_finish() -> None:
    rec, gate = EventRecorder(), Gate()
    async with orchestrator(None, rec) as orch:
        agent = await orch.register(agent_spec("a1", gate))
        handle = await orch.submit(TaskSpec("t", payload=1))
        await rec.wait_for("task.running", task_id=handle.id)
        leaving = asyncio.ensure_future(orch.deregister("a1"))
        await rec.wait_for("agent.draining", agent_id=agent.id)
        assert not leaving.done()
        gate.open()
        await leaving
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.agent_id, outcome.attempts) == (
            TaskState.SUCCEEDED,
            agent.id,
            1,
        )
        assert agent.state is AgentState.STOPPED
        with pytest.raises(NotFound):
            orch.agent("a1")


async def test_deregister_without_drain_requeues_in_flight_work_without_spending_attempts() -> None:
    rec, gate = EventRecorder(), Gate()
    async with orchestrator(None, rec) as orch:
        await orch.register(agent_spec("a1", gate))
        handle = await orch.submit(TaskSpec("t", payload=1, max_attempts=1))
        await rec.wait_for("task.running", task_id=handle.id)
        other = await orch.register(agent_spec("a2", echo))
        await orch.deregister("a1", drain=False)
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.agent_id, outcome.attempts) == (
            TaskState.SUCCEEDED,
            other.id,
            1,
        )
        assert gate.cancelled == [handle.id]
        [requeued] = rec.of("task.pending", task_id=handle.id)[1:]
        assert requeued.data["error"] == "agent a1 deregistered"
        check_order(rec.types(handle.id))


async def test_deregister_without_drain_right_after_assignment_requeues_the_task() -> None:
    """The attempt's coroutine has not started yet when the agent leaves."""
    async with orchestrator() as orch:
        handle, _ = await assigned_not_started(orch)
        other = await orch.register(agent_spec("a2", echo))
        await orch.deregister("a1", drain=False)
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.agent_id) == (TaskState.SUCCEEDED, other.id)


async def test_drain_stops_new_work_and_waits_for_work_in_flight() -> None:
    gate = Gate()
    async with orchestrator() as orch:
        agent = await orch.register(agent_spec("a1", gate, capacity=2))
        first = await orch.submit(TaskSpec("t", payload="first"))
        assert await orch.drain("a1", timeout=0.01) is False
        assert agent.state is AgentState.DRAINING
        second = await orch.submit(TaskSpec("t", payload="second"))
        assert second.task.state is TaskState.QUEUED
        draining = asyncio.ensure_future(orch.drain("a1"))
        gate.open()
        assert await draining is True
        assert (await first.result(timeout=5)).agent_id == agent.id
        assert second.task.state is TaskState.QUEUED
        assert gate.started == ["first"]
        helper = await orch.register(agent_spec("a2", echo))
        assert (await second.result(timeout=5)).agent_id == helper.id


async def test_cancel_a_queued_task() -> None:
    rec = EventRecorder()
    async with orchestrator(None, rec) as orch:
        handle = await orch.submit(TaskSpec("t", requires={"gpu"}))
        assert orch.metrics().queued == 1
        assert await orch.cancel(handle.id) is True
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.attempts) == (TaskState.CANCELLED, 0)
        assert orch.metrics().queued == 0
        gate = Gate()
        await orch.register(agent_spec("gpu", gate, "gpu"))
        assert gate.started == []
        assert rec.types(handle.id) == [
            "task.pending",
            "task.queued",
            "routing.unplaceable",  # nothing could take a "gpu" task when it was queued
            "task.cancelled",
        ]


async def test_cancel_a_running_task_cancels_its_handler() -> None:
    rec, gate = EventRecorder(), Gate()
    async with orchestrator(None, rec) as orch:
        agent = await orch.register(agent_spec("a1", gate))
        handle = await orch.submit(TaskSpec("t"))
        await rec.wait_for("task.running", task_id=handle.id)
        assert await handle.cancel() is True
        outcome = await handle.result(timeout=5)
        assert outcome.state is TaskState.CANCELLED
        assert gate.cancelled == [handle.id]
        assert (agent.in_flight, agent.state) == (0, AgentState.READY)
        check_order(rec.types(handle.id))


async def test_cancel_right_after_assignment_resolves_the_handle() -> None:
    """Cancelled before the attempt's coroutine ran a single step."""
    async with orchestrator() as orch:
        handle, agent = await assigned_not_started(orch)
        assert await orch.cancel(handle.id) is True
        assert (await handle.result(timeout=5)).state is TaskState.CANCELLED
        assert (agent.in_flight, agent.state) == (0, AgentState.READY)


async def test_cancel_while_an_async_after_hook_runs_resolves_the_handle() -> None:
    class SlowAfter:
        def __init__(self) -> None:
            self.entered = asyncio.Event()

        @hookimpl
        async def alveary_task_after(self, task: Task, outcome: Outcome) -> None:
            self.entered.set()
            await asyncio.Event().wait()

    after = SlowAfter()
    async with orchestrator({"orchestrator": {"hook_timeout": 5.0}}, after) as orch:
        await orch.register(agent_spec("a1", echo))
        handle = await orch.submit(TaskSpec("t"))
        await after.entered.wait()
        assert await orch.cancel(handle.id) is True
        assert (await handle.result(timeout=5)).state is TaskState.CANCELLED


async def test_cancel_a_finished_task_returns_false() -> None:
    async with orchestrator() as orch:
        await orch.register(agent_spec("a1", echo))
        handle = await orch.submit(TaskSpec("t", payload=3))
        await handle.result(timeout=5)
        assert await orch.cancel(handle.id) is False
        assert await handle.cancel() is False
        assert handle.task.outcome is not None
        assert handle.task.outcome.state is TaskState.SUCCEEDED


# -- observing --------------------------------------------------------------------------------


async def test_heartbeat_updates_time_and_metrics() -> None:
    async with orchestrator() as orch:
        agent = await orch.register(agent_spec("a1", echo))
        before = time.time()
        orch.heartbeat(agent.id, load=0.25, context=0.5)
        assert agent.heartbeat >= before
        assert agent.metrics == {"load": 0.25, "context": 0.5}
        orch.heartbeat("a1", load=0.75)
        assert agent.metrics == {"load": 0.75, "context": 0.5}
        with pytest.raises(NotFound):
            orch.heartbeat("nobody")


async def test_agents_tasks_and_lookups() -> None:
    async with orchestrator() as orch:
        a1 = await orch.register(agent_spec("a1", echo, "x"))
        a2 = await orch.register(agent_spec("a2", echo, "y"))
        assert orch.agents() == [a1, a2]
        assert orch.agent(a1.id) is a1
        assert orch.agent("a2") is a2
        done = await orch.submit(TaskSpec("t", requires={"x"}))
        await done.result(timeout=5)
        waiting = await orch.submit(TaskSpec("t", requires={"z"}))
        assert {t.id for t in orch.tasks()} == {done.id, waiting.id}
        assert [t.id for t in orch.tasks(TaskState.SUCCEEDED)] == [done.id]
        assert [t.id for t in orch.tasks(TaskState.QUEUED)] == [waiting.id]
        assert orch.get_task(waiting.id) is waiting.task
        for lookup in (
            lambda: orch.agent("a3"),
            lambda: orch.get_task("t-0"),
            lambda: orch.task(""),
        ):
            with pytest.raises(NotFound):
                lookup()
        with pytest.raises(KeyError):
            orch.agent("a3")


async def test_metrics_is_a_snapshot_of_counts() -> None:
    class FailOnce:
        @hookimpl
        def alveary_task_before(self, task: Task) -> None:
            if task.payload == "retry" and task.attempts == 1:
                raise Rejected("once more")

    async with orchestrator(None, FailOnce()) as orch:
        await orch.register(agent_spec("a1", echo, "x"))
        handles = [await orch.submit(TaskSpec("t", payload=p)) for p in ("a", "b", "retry")]
        await results(*handles)
        await orch.submit(TaskSpec("t", requires={"gpu"}))
        snapshot = orch.metrics()
        assert snapshot.tasks == {"succeeded": 3, "queued": 1}
        assert (snapshot.queued, snapshot.in_flight) == (1, 0)
        assert (snapshot.submitted, snapshot.retries) == (4, 1)
        assert snapshot.agents == {"ready": 1}
        assert (snapshot.plugin_failures, snapshot.disabled_plugins) == ({}, ())
        assert snapshot.uptime >= 0
        await orch.submit(TaskSpec("t", requires={"gpu"}))
        assert snapshot.submitted == 4
        assert orch.metrics().submitted == 5


async def test_events_iterator_sees_every_event_in_order_until_stop() -> None:
    seen: list[Event] = []

    async def listen(orch: Orchestrator) -> None:
        async for event in orch.events():
            seen.append(event)

    async with orchestrator() as orch:
        listener = asyncio.ensure_future(listen(orch))
        await asyncio.sleep(0)  # let the listener subscribe
        agent = await orch.register(agent_spec("a1", echo))
        handle = await orch.submit(TaskSpec("t"))
        await handle.result(timeout=5)
    await asyncio.wait_for(listener, 5)
    assert [e.type for e in seen] == [
        "agent.starting",
        "agent.ready",
        "task.pending",
        "agent.busy",
        "task.assigned",
        "task.running",
        "agent.ready",
        "task.succeeded",
        "agent.draining",
        "agent.stopped",
        "orchestrator.stopped",
    ]
    assert {e.agent_id for e in seen if e.type.startswith("agent.")} == {agent.id}
    assert {e.task_id for e in seen if e.type.startswith("task.")} == {handle.id}
    seqs = [e.seq for e in seen]
    assert seqs == sorted(set(seqs))


async def test_idempotency_key_returns_the_same_task_and_never_a_second() -> None:
    calls: list[Any] = []

    async def count(task: Task) -> Any:
        calls.append(task.payload)
        return task.payload

    async with orchestrator() as orch:
        first = await orch.submit(TaskSpec("t", payload=1, idempotency_key="k"))
        again = await orch.submit(TaskSpec("t", payload=2, idempotency_key="k"))
        assert again.task is first.task
        await orch.register(agent_spec("a1", count))
        assert (await first.result(timeout=5)).value == 1
        later = await orch.submit(TaskSpec("t", payload=3, idempotency_key="k"))
        assert later.id == first.id
        assert later.done()
        other = await orch.submit(TaskSpec("t", payload=4, idempotency_key="other"))
        await other.result(timeout=5)
        assert calls == [1, 4]
        assert len(orch.tasks()) == 2
        assert orch.metrics().submitted == 2


# -- queueing and routing ---------------------------------------------------------------------


async def test_queued_tasks_leave_by_priority_then_in_submission_order() -> None:
    gate = Gate()
    async with orchestrator() as orch:
        await orch.register(agent_spec("a1", gate))
        blocker = await orch.submit(TaskSpec("t", payload="blocker", priority="critical"))
        order = [
            ("low-1", Priority.LOW),
            ("medium-1", Priority.MEDIUM),
            ("critical-1", Priority.CRITICAL),
            ("high-1", Priority.HIGH),
            ("medium-2", Priority.MEDIUM),
            ("low-2", Priority.LOW),
            ("critical-2", Priority.CRITICAL),
            ("high-2", Priority.HIGH),
        ]
        handles = [await orch.submit(TaskSpec("t", payload=p, priority=pr)) for p, pr in order]
        assert all(h.task.state is TaskState.QUEUED for h in handles)
        gate.open()
        await results(blocker, *handles)
        assert gate.started == [
            "blocker",
            "critical-1",
            "critical-2",
            "high-1",
            "high-2",
            "medium-1",
            "medium-2",
            "low-1",
            "low-2",
        ]


async def test_task_waiting_for_a_capability_runs_as_soon_as_an_agent_registers() -> None:
    rec = EventRecorder()
    async with orchestrator({"orchestrator": {"tick_interval": 60}}, rec) as orch:
        handle = await orch.submit(TaskSpec("t", requires={"gpu"}))
        assert handle.task.state is TaskState.QUEUED
        agent = await orch.register(agent_spec("g1", echo, "gpu"))
        assert handle.task.state is not TaskState.QUEUED
        ready = rec.events.index(await rec.wait_for("agent.ready", agent_id=agent.id))
        following = [(e.type, e.task_id, e.agent_id) for e in rec.events[ready + 1 : ready + 3]]
        assert following == [
            ("agent.busy", None, agent.id),
            ("task.assigned", handle.id, agent.id),
        ]
        assert (await handle.result(timeout=5)).agent_id == agent.id


async def test_tasks_with_different_requirements_do_not_block_each_other() -> None:
    gate = Gate()
    async with orchestrator() as orch:
        await orch.register(agent_spec("cpu", gate, "cpu"))
        running = await orch.submit(TaskSpec("t", payload="running", requires={"cpu"}))
        stuck = await orch.submit(TaskSpec("t", requires={"gpu"}, priority="critical"))
        waiting = await orch.submit(
            TaskSpec("t", payload="waiting", requires={"cpu"}, priority="low")
        )
        assert (stuck.task.state, waiting.task.state) == (TaskState.QUEUED, TaskState.QUEUED)
        gate.open()
        await results(running, waiting)
        assert gate.started == ["running", "waiting"]
        assert stuck.task.state is TaskState.QUEUED
        fresh = await orch.submit(TaskSpec("t", payload="fresh", requires={"cpu"}))
        assert (await fresh.result(timeout=5)).state is TaskState.SUCCEEDED
        assert stuck.task.state is TaskState.QUEUED


async def test_timed_out_attempts_are_retried_then_the_task_is_dead() -> None:
    rec = EventRecorder()
    async with orchestrator(None, rec) as orch:
        agent = await orch.register(agent_spec("a1", hang))
        handle = await orch.submit(TaskSpec("t", timeout=0.02, max_attempts=2))
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.attempts) == (TaskState.DEAD, 2)
        assert outcome.error == "timed out after 0.02 s"
        assert rec.types(handle.id) == [
            "task.pending",
            "task.assigned",
            "task.running",
            "task.pending",
            "task.assigned",
            "task.running",
            "task.dead",
        ]
        assert (
            rec.of("task.pending", task_id=handle.id)[1].data["error"] == "timed out after 0.02 s"
        )
        assert (agent.in_flight, agent.state) == (0, AgentState.READY)


async def test_retry_delays_grow_exponentially() -> None:
    rec = EventRecorder()

    async def boom(task: Task) -> None:
        raise RuntimeError("boom")

    base = 0.01
    config = {"orchestrator": {"retry_base": base, "retry_max": 10.0}}
    async with orchestrator(config, rec) as orch:
        await orch.register(agent_spec("a1", boom))
        handle = await orch.submit(TaskSpec("t", max_attempts=4))
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.attempts, outcome.error) == (
            TaskState.DEAD,
            4,
            "RuntimeError: boom",
        )
        retries = rec.of("task.pending", task_id=handle.id)[1:]
        assert [e.data["attempt"] for e in retries] == [1, 2, 3]
        delays = [e.data["retry_in"] for e in retries]
        for attempt, delay in enumerate(delays, start=1):
            ceiling = base * 2 ** (attempt - 1)
            assert ceiling / 2 - 0.0005 <= delay <= ceiling + 0.0005, (attempt, delays)
        assert delays == sorted(delays)
        assert delays[-1] > delays[0]


async def test_permanent_failure_fails_at_once_without_retry() -> None:
    calls: list[str] = []

    async def refuse(task: Task) -> None:
        calls.append(task.id)
        raise PermanentFailure("cannot ever work")

    async with orchestrator() as orch:
        await orch.register(agent_spec("a1", refuse))
        handle = await orch.submit(TaskSpec("t", max_attempts=3))
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.attempts) == (TaskState.FAILED, 1)
        assert outcome.error == "PermanentFailure: cannot ever work"
        assert calls == [handle.id]


async def test_rejection_before_an_attempt_counts_as_a_failed_attempt() -> None:
    class FirstTryRejected:
        @hookimpl
        def alveary_task_before(self, task: Task, agent: Agent) -> None:
            if task.attempts == 1:
                raise Rejected("not on the first try")

    rec, calls = EventRecorder(), []

    async def run(task: Task) -> int:
        calls.append(task.attempts)
        return task.attempts

    async with orchestrator(None, rec, FirstTryRejected()) as orch:
        await orch.register(agent_spec("a1", run))
        handle = await orch.submit(TaskSpec("t"))
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.attempts, outcome.value) == (TaskState.SUCCEEDED, 2, 2)
        assert calls == [2]
        error = rec.of("task.pending", task_id=handle.id)[1].data["error"]
        assert error.startswith("rejected: ")
        assert error.endswith("not on the first try")
        assert rec.types(handle.id) == [
            "task.pending",
            "task.assigned",
            "task.pending",
            "task.assigned",
            "task.running",
            "task.succeeded",
        ]
        single = await orch.submit(TaskSpec("t", max_attempts=1))
        outcome = await single.result(timeout=5)
        assert (outcome.state, outcome.error) == (TaskState.DEAD, error)


async def test_after_hook_replacing_a_success_with_a_failure_makes_the_task_retry() -> None:
    class QualityGate:
        @hookimpl
        def alveary_task_after(self, task: Task, outcome: Outcome) -> Outcome | None:
            if outcome.ok and task.attempts == 1:
                return attrs.evolve(outcome, state=TaskState.FAILED, error="below the bar")
            return None

    rec, calls = EventRecorder(), []

    async def run(task: Task) -> int:
        calls.append(task.attempts)
        return task.attempts

    async with orchestrator(None, rec, QualityGate()) as orch:
        await orch.register(agent_spec("a1", run))
        handle = await orch.submit(TaskSpec("t"))
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.attempts, outcome.value) == (TaskState.SUCCEEDED, 2, 2)
        assert calls == [1, 2]
        assert rec.of("task.pending", task_id=handle.id)[1].data["error"] == "below the bar"


async def test_task_needing_several_capabilities_goes_only_to_an_agent_with_all() -> None:
    async with orchestrator() as orch:
        await orch.register(agent_spec("x", echo, "x", capacity=10))
        await orch.register(agent_spec("y", echo, "y", capacity=10))
        both = await orch.register(agent_spec("xy", echo, "x", "y", capacity=10))
        await orch.register(agent_spec("yz", echo, "y", "z", capacity=10))
        handles = [await orch.submit(TaskSpec("t", requires={"x", "y"})) for _ in range(12)]
        assert {o.agent_id for o in await results(*handles)} == {both.id}
        stuck = await orch.submit(TaskSpec("t", requires={"x", "y", "z"}))
        assert stuck.task.state is TaskState.QUEUED
        xyz = await orch.register(agent_spec("xyz", echo, "x", "y", "z"))
        assert (await stuck.result(timeout=5)).agent_id == xyz.id


async def test_sample_zero_makes_least_loaded_look_at_every_candidate() -> None:
    """Each new agent is the only idle one: a full scan always finds it, a sample of two
    would miss it most of the time."""
    gate = Gate()
    async with orchestrator({"routing": {"sample": 0}}) as orch:
        placed = []
        for i in range(8):
            agent = await orch.register(agent_spec(f"a{i}", gate, capacity=2))
            handle = await orch.submit(TaskSpec("t"))
            placed.append((handle.task.agent_id, agent.id))
        assert all(got == want for got, want in placed)
        gate.open()


async def test_least_loaded_spreads_long_tasks_across_agents() -> None:
    gate = Gate()
    async with orchestrator() as orch:
        agents = [await orch.register(agent_spec(f"a{i}", gate)) for i in range(5)]
        handles = [await orch.submit(TaskSpec("t")) for _ in range(5)]
        assert sorted(h.task.agent_id or "" for h in handles) == sorted(a.id for a in agents)
        gate.open()
        await results(*handles)

    gate = Gate()
    async with orchestrator({"routing": {"sample": 0}}) as orch:
        agents = [await orch.register(agent_spec(f"b{i}", gate, capacity=4)) for i in range(3)]
        handles = [await orch.submit(TaskSpec("t")) for _ in range(6)]
        assert [a.in_flight for a in agents] == [2, 2, 2]
        gate.open()
        await results(*handles)


async def test_every_task_emits_its_events_in_a_valid_order() -> None:
    rec = EventRecorder()

    async def mixed(task: Task) -> Any:
        if task.payload == "flaky" and task.attempts == 1:
            raise RuntimeError("flaky")
        if task.payload == "permanent":
            raise PermanentFailure("no")
        if task.payload == "slow":
            await asyncio.Event().wait()
        return task.payload

    async with orchestrator(None, rec) as orch:
        queued = await orch.submit(TaskSpec("t", payload="ok", requires={"m"}))
        cancelled = await orch.submit(TaskSpec("t", requires={"nobody"}))
        await orch.register(agent_spec("a1", mixed, "m", capacity=3))
        handles = [
            queued,
            cancelled,
            *[
                await orch.submit(TaskSpec("t", payload=p, requires={"m"}, timeout=0.02))
                for p in ("ok", "flaky", "permanent", "slow")
            ],
        ]
        await orch.cancel(cancelled.id)
        outcomes = await results(*handles)
        assert [o.state for o in outcomes] == [
            TaskState.SUCCEEDED,
            TaskState.CANCELLED,
            TaskState.SUCCEEDED,
            TaskState.SUCCEEDED,
            TaskState.FAILED,
            TaskState.DEAD,
        ]
        for handle in handles:
            check_order(rec.types(handle.id))


@pytest.mark.parametrize(
    "types",
    [
        ["task.pending", "task.running", "task.succeeded"],
        ["task.pending", "task.assigned", "task.running"],
        ["task.pending", "task.queued", "task.cancelled", "task.assigned"],
        ["task.pending", "task.assigned", "task.running", "task.succeeded", "task.failed"],
    ],
)
def test_order_check_rejects_invalid_sequences(types: list[str]) -> None:
    with pytest.raises(AssertionError):
        check_order(types)


# -- health -----------------------------------------------------------------------------------


class Probe:
    """Reports each agent's health from ``status`` (by agent name) and records changes."""

    name = "probe"

    def __init__(self) -> None:
        self.status: dict[str, HealthStatus] = {}
        self.changes: list[tuple[str, HealthStatus, HealthStatus, str]] = []

    @hookimpl
    def alveary_health_check(self, agent: Agent) -> HealthReport | None:
        status = self.status.get(agent.name)
        return None if status is None else HealthReport(status, f"probe says {status.name}")

    @hookimpl
    def alveary_health_changed(
        self, agent: Agent, old: HealthStatus, new: HealthStatus, reason: str
    ) -> None:
        self.changes.append((agent.name, old, new, reason))


FAST_HEALTH = {"orchestrator": {"tick_interval": 0.01, "health_interval": 0.01}}


async def test_unhealthy_agent_leaves_routing_and_comes_back_when_healthy() -> None:
    rec, probe = EventRecorder(), Probe()
    async with orchestrator(FAST_HEALTH, rec, probe) as orch:
        sick = await orch.register(agent_spec("sick", echo, capacity=5))
        well = await orch.register(agent_spec("well", echo, capacity=5))
        probe.status["sick"] = HealthStatus.UNHEALTHY
        event = await rec.wait_for("agent.health", agent_id=sick.id, to="unhealthy")
        assert (event.data["source"], sick.state) == ("probe", AgentState.UNHEALTHY)
        handles = [await orch.submit(TaskSpec("t")) for _ in range(10)]
        assert {o.agent_id for o in await results(*handles)} == {well.id}
        probe.status["sick"] = HealthStatus.HEALTHY
        await rec.wait_for("agent.health", agent_id=sick.id, to="healthy")
        assert sick.state is AgentState.READY
        assert await orch.drain("well") is True
        back = await orch.submit(TaskSpec("t"))
        assert (await back.result(timeout=5)).agent_id == sick.id
        assert probe.changes == [
            ("sick", HealthStatus.HEALTHY, HealthStatus.UNHEALTHY, "probe says UNHEALTHY"),
            ("sick", HealthStatus.UNHEALTHY, HealthStatus.HEALTHY, "probe says HEALTHY"),
        ]


async def test_failed_agent_is_removed_and_its_work_requeued_as_a_spent_attempt() -> None:
    class Departures:
        def __init__(self) -> None:
            self.reasons: dict[str, str] = {}
            self.any = asyncio.Event()

        @hookimpl
        def alveary_agent_deregistered(self, agent: Agent, reason: str) -> None:
            self.reasons[agent.name] = reason
            self.any.set()

    rec, probe, gone, gate = EventRecorder(), Probe(), Departures(), Gate()
    async with orchestrator(FAST_HEALTH, rec, probe, gone) as orch:
        doomed = await orch.register(agent_spec("doomed", gate, capacity=2))
        retried = await orch.submit(TaskSpec("t", max_attempts=2))
        last_try = await orch.submit(TaskSpec("t", max_attempts=1))
        await rec.wait_for("task.running", task_id=last_try.id)
        rescuer = await orch.register(agent_spec("rescuer", echo))
        probe.status["doomed"] = HealthStatus.FAILED
        first, second = await results(retried, last_try)
        assert (first.state, first.agent_id, first.attempts) == (
            TaskState.SUCCEEDED,
            rescuer.id,
            2,
        )
        assert (second.state, second.error) == (TaskState.DEAD, "agent doomed failed")
        assert sorted(gate.cancelled) == sorted([retried.id, last_try.id])
        await rec.wait_for("agent.failed", agent_id=doomed.id)
        await asyncio.wait_for(gone.any.wait(), 5)
        assert gone.reasons == {"doomed": "failed"}
        assert doomed.state is AgentState.FAILED
        with pytest.raises(NotFound):
            orch.agent("doomed")
        assert probe.changes[0][:3] == ("doomed", HealthStatus.HEALTHY, HealthStatus.FAILED)


async def test_set_health_applies_a_verdict_at_once() -> None:
    rec = EventRecorder()
    async with orchestrator(None, rec) as orch:
        agent = await orch.register(agent_spec("a1", echo))
        orch.set_health("a1", HealthStatus.UNHEALTHY, "slow replies")
        assert (agent.health, agent.state) == (HealthStatus.UNHEALTHY, AgentState.UNHEALTHY)
        waiting = await orch.submit(TaskSpec("t"))
        assert waiting.task.state is TaskState.QUEUED
        orch.set_health(agent.id, HealthStatus.HEALTHY, "better")
        assert waiting.task.agent_id == agent.id  # placed at once
        assert (await waiting.result(timeout=5)).agent_id == agent.id
        health = [e.data for e in rec.events if e.type == "agent.health"]
        assert [(d["from"], d["to"], d["reason"]) for d in health] == [
            ("healthy", "unhealthy", "slow replies"),
            ("unhealthy", "healthy", "better"),
        ]
        orch.set_health("a1", HealthStatus.FAILED, "gone")
        assert agent.state is AgentState.FAILED
        stuck = await orch.submit(TaskSpec("t"))
        assert stuck.task.state is TaskState.QUEUED


# -- security ---------------------------------------------------------------------------------


class Security:
    """Tokens name principals; only admins register agents or submit ``secret`` tasks."""

    name = "security"
    tokens: Mapping[str, Principal] = {
        "t-admin": Principal("root", {"admin"}),
        "t-user": Principal("alice"),
    }

    @hookimpl
    def alveary_authenticate(self, credentials: Mapping[str, Any]) -> Principal | None:
        return self.tokens.get(credentials.get("token", ""))

    @hookimpl
    def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool | None:
        if action == "agent.register" or (action == "task.submit" and resource == "secret"):
            return "admin" in principal.roles
        return None


async def test_authentication_and_authorization_guard_register_and_submit() -> None:
    rec = EventRecorder()
    admin, user = {"token": "t-admin"}, {"token": "t-user"}
    async with orchestrator(None, rec, Security()) as orch:
        with pytest.raises(Denied, match="not authenticated"):
            await orch.register(agent_spec("a1", echo))
        with pytest.raises(Denied, match=r"^security: alice may not agent\.register a1$"):
            await orch.register(agent_spec("a1", echo), credentials=user)
        await orch.register(agent_spec("a1", echo), credentials=admin)
        with pytest.raises(Denied, match="not authenticated"):
            await orch.submit(TaskSpec("echo"), credentials={"token": "forged"})
        with pytest.raises(Denied):
            await orch.submit(TaskSpec("secret"), credentials=user)
        mine = await orch.submit(TaskSpec("echo", payload=1), credentials=user)
        theirs = await orch.submit(TaskSpec("secret", payload=2), credentials=admin)
        assert [o.value for o in await results(mine, theirs)] == [1, 2]
        assert (mine.task.principal, theirs.task.principal) == ("alice", "root")
        assert orch.metrics().submitted == 2
        denied = [e.data for e in rec.events if e.type == "security.denied"]
        assert [(d["action"], d["resource"], d["reason"]) for d in denied] == [
            ("agent.register", "a1", "not authenticated"),
            ("agent.register", "a1", "not authorized"),
            ("task.submit", "echo", "not authenticated"),
            ("task.submit", "secret", "not authorized"),
        ]


async def test_validation_hooks_refuse_agents_and_tasks() -> None:
    class Rules:
        @hookimpl
        def alveary_agent_validate(self, spec: AgentSpec) -> None:
            if not spec.capabilities:
                raise Rejected("an agent must declare a capability")

        @hookimpl
        async def alveary_task_validate(self, spec: TaskSpec, principal: Principal) -> None:
            if spec.payload is None:
                raise Rejected(f"{principal.id}: a task needs a payload")

    async with orchestrator(None, Rules()) as orch:
        with pytest.raises(Rejected, match="must declare a capability"):
            await orch.register(agent_spec("bare", echo))
        assert orch.agents() == []
        await orch.register(agent_spec("a1", echo, "x"))
        with pytest.raises(Rejected, match="anonymous: a task needs a payload"):
            await orch.submit(TaskSpec("t", requires={"x"}))
        assert orch.metrics().submitted == 0
        ok = await orch.submit(TaskSpec("t", payload=1, requires={"x"}))
        assert (await ok.result(timeout=5)).value == 1


# -- stopping ---------------------------------------------------------------------------------


async def test_stop_cancels_every_unfinished_task_with_the_memory_store() -> None:
    rec = EventRecorder()

    async def fail(task: Task) -> None:
        raise RuntimeError("later")

    config = {"orchestrator": {"retry_base": 30.0}}
    async with orchestrator(config, rec) as orch:
        await orch.register(agent_spec("hung", hang, "hang"))
        await orch.register(agent_spec("flaky", fail, "fail"))
        running = await orch.submit(TaskSpec("t", requires={"hang"}))
        backing_off = await orch.submit(TaskSpec("t", requires={"fail"}))
        queued = await orch.submit(TaskSpec("t", requires={"nobody"}))
        await rec.wait_for("task.running", task_id=running.id)
        await rec.wait_for("task.pending", task_id=backing_off.id, attempt=1)
        waiting = asyncio.gather(*(h.result() for h in (running, backing_off, queued)))
        await orch.stop(timeout=0.01)
        outcomes = await asyncio.wait_for(waiting, 5)
        assert [o.state for o in outcomes] == [TaskState.CANCELLED] * 3
        assert outcomes[0].error == "orchestrator stopped (agent hung shutdown)"
        assert outcomes[1].error == outcomes[2].error == "orchestrator stopped"
        for handle in (running, backing_off, queued):
            check_order(rec.types(handle.id))
        with pytest.raises(AlvearyError, match="not running"):
            await orch.submit(TaskSpec("t"))
