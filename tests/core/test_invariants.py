"""Invariants of the engine under generated scenarios.

Each example plays a random script against a real orchestrator: agents with random
capabilities and capacities come and go (drained or not), fail or turn unhealthy; tasks with
random requirements, priorities, attempt limits and idempotency keys are submitted and
cancelled, and each attempt succeeds, raises, hangs until its timeout or fails permanently.
The script ends by registering an agent that can do everything and waiting until every task
is finished. Then, whatever happened:

- every task ended in exactly one terminal state, and its events walked the state machine;
- no task was assigned to an agent that lacked a capability, was not routable, or had no slot;
- no agent ever had more tasks in flight than its capacity;
- a failed attempt with attempts left was retried; ``dead`` means every attempt was spent,
  ``failed`` means a permanent failure, ``cancelled`` means someone asked;
- an idempotency key never yielded two tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alveary import (
    AgentSpec,
    AgentState,
    Event,
    HealthStatus,
    NotFound,
    Orchestrator,
    Outcome,
    PermanentFailure,
    Priority,
    Rejected,
    Task,
    TaskHandle,
    TaskSpec,
    TaskState,
    hookimpl,
)
from alveary.testing import EventRecorder, orchestrator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CAPS = ("a", "b", "c")
TIMEOUT = 0.02
"""Each attempt's timeout: how long a hanging attempt holds its slot."""

TERMINAL = {"succeeded", "failed", "cancelled", "dead"}
NEXT: dict[str | None, frozenset[str]] = {
    None: frozenset({"pending"}),
    "pending": frozenset({"queued", "assigned", "cancelled"}),
    "queued": frozenset({"assigned", "cancelled"}),
    "assigned": frozenset({"running", "pending", "failed", "dead", "cancelled"}),
    "running": frozenset({"pending", "succeeded", "failed", "dead", "cancelled"}),
}


# -- the script -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    caps: frozenset[str]
    capacity: int


@dataclass(frozen=True)
class Submit:
    requires: frozenset[str]
    priority: Priority
    max_attempts: int
    key: str | None
    plan: tuple[str, ...]
    """What each attempt does: ``ok``, ``raise``, ``hang``, ``permanent``, or ``reject`` (the
    ``alveary_task_before`` gate refuses it); the last one repeats."""


@dataclass(frozen=True)
class Deregister:
    agent: int
    drain: bool


@dataclass(frozen=True)
class Cancel:
    task: int


@dataclass(frozen=True)
class SetHealth:
    agent: int
    status: HealthStatus


@dataclass(frozen=True)
class Pause:
    seconds: float
    """0: let the event loop run once; else wait that long so timeouts can fire."""


Step = Register | Submit | Deregister | Cancel | SetHealth | Pause

caps = st.frozensets(st.sampled_from(CAPS), max_size=2)
register = st.builds(Register, caps=caps, capacity=st.integers(1, 3))
submit = st.builds(
    Submit,
    requires=caps,
    priority=st.sampled_from(Priority),
    max_attempts=st.integers(1, 3),
    key=st.none() | st.sampled_from(["k1", "k2"]),
    plan=st.lists(
        st.sampled_from(["ok", "ok", "raise", "hang", "permanent", "reject"]),
        min_size=1,
        max_size=3,
    ).map(tuple),
)
deregister = st.builds(Deregister, agent=st.integers(0, 7), drain=st.booleans())
cancel = st.builds(Cancel, task=st.integers(0, 15))
health = st.builds(
    SetHealth,
    agent=st.integers(0, 7),
    status=st.sampled_from([HealthStatus.UNHEALTHY, HealthStatus.HEALTHY, HealthStatus.FAILED]),
)
pause = st.builds(Pause, seconds=st.sampled_from([0.0, 0.0, 0.01]))
steps: st.SearchStrategy[Step] = st.one_of(
    register, register, submit, submit, submit, submit, deregister, cancel, health, pause, pause
)
scripts = st.lists(steps, min_size=12, max_size=40)


# -- watching the engine ----------------------------------------------------------------------


class Auditor:
    """Checks at every event that no agent is over capacity, and at every assignment that
    the agent could take the task. Never raises in a hook (that would disable it): it
    writes down what is wrong."""

    name = "auditor"

    def __init__(self) -> None:
        self.orch: Orchestrator | None = None
        self.problems: list[str] = []

    @hookimpl
    def alveary_startup(self, orchestrator: Orchestrator) -> None:
        self.orch = orchestrator

    @hookimpl
    def alveary_event(self, event: Event) -> None:
        orch = self.orch
        if orch is None:
            return
        for agent in orch.agents():
            if not 0 <= agent.in_flight <= agent.spec.capacity:
                self.problems.append(f"{event.type}: {agent.name} has {agent.in_flight} in flight")
        if event.type != "task.assigned" or event.task_id is None or event.agent_id is None:
            return
        task, agent = orch.get_task(event.task_id), orch.agent(event.agent_id)
        if not task.spec.requires <= agent.spec.capabilities:
            self.problems.append(f"{task.id} needs {set(task.spec.requires)}, sent to {agent.name}")
        if agent.state not in (AgentState.READY, AgentState.BUSY):
            self.problems.append(f"{task.id} sent to {agent.name} in state {agent.state.value}")
        if agent.health >= HealthStatus.UNHEALTHY:
            self.problems.append(f"{task.id} sent to {agent.name}, {agent.health.name}")


class Gatekeeper:
    """Async task hooks, so that attempts also await around the handler: the gate refuses
    the attempts the plan says to reject, the after hook keeps every outcome."""

    name = "gatekeeper"

    @hookimpl
    async def alveary_task_before(self, task: Task) -> None:
        await asyncio.sleep(0)
        if step_of(task) == "reject":
            raise Rejected("plan says no")

    @hookimpl
    async def alveary_task_after(self, task: Task) -> None:
        await asyncio.sleep(0)


def step_of(task: Task) -> str:
    """What the task's plan says this attempt does."""
    plan: tuple[str, ...] = task.payload
    return plan[min(task.attempts, len(plan)) - 1]


class Worker:
    """The handler of every agent: does what the task's plan says for this attempt, and
    checks the agent it runs on."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor

    async def __call__(self, task: Task) -> Any:
        orch = self.auditor.orch
        assert orch is not None
        agent = orch.agent(task.agent_id or "")
        if agent.in_flight > agent.spec.capacity or agent.in_flight < 1:
            self.auditor.problems.append(f"{agent.name} runs {task.id} with {agent.in_flight}")
        step = step_of(task)
        if step == "raise":
            raise RuntimeError("boom")
        if step == "permanent":
            raise PermanentFailure("never")
        if step == "hang":
            await asyncio.Event().wait()
        await asyncio.sleep(0)
        return task.id


# -- playing a script -------------------------------------------------------------------------


@dataclass
class Played:
    handles: list[TaskHandle]
    keys: list[str | None]
    cancels: dict[str, bool]
    outcomes: list[Outcome]
    events: list[Event]
    problems: list[str]
    leftovers: dict[str, Any]


async def play(script: Sequence[Step], retry_base: float) -> Played:
    auditor, recorder = Auditor(), EventRecorder()
    worker = Worker(auditor)
    config = {"orchestrator": {"tick_interval": 0.01, "retry_base": retry_base}}
    handles: list[TaskHandle] = []
    keys: list[str | None] = []
    names: list[str] = []
    cancels: dict[str, bool] = {}
    background: list[asyncio.Future[None]] = []

    async def leave(name: str, drain: bool) -> None:
        with contextlib.suppress(NotFound):
            await orch.deregister(name, drain=drain)

    async with orchestrator(config, recorder, auditor, Gatekeeper()) as orch:
        for step in script:
            if isinstance(step, Register):
                names.append(f"agent-{len(names)}")
                spec = AgentSpec(names[-1], step.caps, step.capacity, options={"handler": worker})
                await orch.register(spec)
            elif isinstance(step, Submit):
                spec = TaskSpec(
                    "work",
                    payload=step.plan,
                    requires=step.requires,
                    priority=step.priority,
                    timeout=TIMEOUT,
                    max_attempts=step.max_attempts,
                    idempotency_key=step.key,
                )
                handles.append(await orch.submit(spec))
                keys.append(step.key)
            elif isinstance(step, Deregister) and names:
                name = names[step.agent % len(names)]
                background.append(asyncio.ensure_future(leave(name, step.drain)))
            elif isinstance(step, Cancel) and handles:
                handle = handles[step.task % len(handles)]
                accepted = await orch.cancel(handle.id)
                cancels[handle.id] = cancels.get(handle.id, False) or accepted
            elif isinstance(step, SetHealth) and names:
                with contextlib.suppress(NotFound):
                    orch.set_health(names[step.agent % len(names)], step.status, "scripted")
            elif isinstance(step, Pause):
                await asyncio.sleep(step.seconds)

        await orch.register(AgentSpec("closer", CAPS, capacity=4, options={"handler": worker}))
        outcomes = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 5)
        await asyncio.wait_for(asyncio.gather(*background), 5)
        metrics = orch.metrics()
        leftovers = {
            "queued": metrics.queued,
            "in_flight": metrics.in_flight,
            "busy agents": {a.name: a.in_flight for a in orch.agents() if a.in_flight},
            "unfinished": [t.id for t in orch.tasks() if not t.state.terminal],
            "tasks": len(orch.tasks()),
            "submitted": metrics.submitted,
        }
    return Played(handles, keys, cancels, outcomes, recorder.events, auditor.problems, leftovers)


# -- checking what happened -------------------------------------------------------------------


def history(events: list[Event]) -> list[tuple[str, dict[str, Any]]]:
    """One task's events, short enough to read in a failure."""
    return [(e.type.removeprefix("task."), dict(e.data)) for e in events]


def check_task(
    handle: TaskHandle, outcome: Outcome, events: list[Event], cancels: dict[str, bool]
) -> None:
    """One task's events walk the state machine with consistent attempt numbers, and its
    outcome agrees with them and with what its plan and the script did."""
    task = handle.task
    states = [e.type.removeprefix("task.") for e in events]
    previous: str | None = None
    counted = 0
    for event, state in zip(events, states, strict=True):
        assert state in NEXT.get(previous, frozenset()), (
            f"{task.id}: {previous} -> {state} {states}"
        )
        if state == "assigned":
            assert event.data["attempt"] == counted + 1, f"{task.id}: attempts {states}"
            counted += 1
        elif state == "pending" and previous is not None:
            counted = event.data["attempt"]  # an attempt cut short by a leaving agent is not spent
            assert counted < task.spec.max_attempts, f"{task.id}: retried with none left"
        previous = state
    assert previous in TERMINAL, f"{task.id} never finished: {states}"
    assert sum(state in TERMINAL for state in states) == 1, states
    assert outcome is task.outcome
    assert outcome.state is task.state
    assert task.state.value == previous
    assert events[-1].data["attempts"] == outcome.attempts, history(events)
    if task.state is TaskState.CANCELLED:
        # an attempt cut short by a leaving agent, then cancelled, was not spent
        assert outcome.attempts in (counted, counted - 1), history(events)
    else:
        assert outcome.attempts == counted, history(events)

    if task.state is TaskState.SUCCEEDED:
        assert outcome.value == task.id
    elif task.state is TaskState.DEAD:
        assert outcome.attempts == task.spec.max_attempts
    elif task.state is TaskState.FAILED:
        assert outcome.error == "PermanentFailure: never"
        assert outcome.retry is False
    else:
        assert task.id in cancels, f"{task.id} cancelled, but nobody asked"
    if cancels.get(task.id):
        # cancel() said yes: even if a timeout or a leaving agent was already interrupting
        # the attempt, the task ends cancelled
        assert task.state is TaskState.CANCELLED, (
            f"{task.id}: cancel() accepted, ended {task.state}"
        )


def check(played: Played) -> None:
    """Every invariant, once the script's tasks have all finished."""
    assert played.problems == []
    by_task: dict[str, list[Event]] = {}
    for event in played.events:
        if event.task_id is not None and event.type.startswith("task."):  # its transitions
            by_task.setdefault(event.task_id, []).append(event)
    unique = {h.id: (h, o) for h, o in zip(played.handles, played.outcomes, strict=True)}
    assert set(by_task) == set(unique), "events of a task nobody submitted, or a silent task"
    for task_id, (handle, outcome) in unique.items():
        check_task(handle, outcome, by_task[task_id], played.cancels)

    first_with_key: dict[str, str] = {}
    for handle, key in zip(played.handles, played.keys, strict=True):
        if key is not None:
            assert first_with_key.setdefault(key, handle.id) == handle.id, f"key {key}: two tasks"
    assert played.leftovers == {
        "queued": 0,
        "in_flight": 0,
        "busy agents": {},
        "unfinished": [],
        "tasks": len(unique),
        "submitted": len(unique),
    }


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(script=scripts, retry_base=st.sampled_from([0.0, 0.002]))
def test_every_task_finishes_once_and_routing_respects_agents(
    script: list[Step], retry_base: float
) -> None:
    """Whatever the script does, every invariant in this module's docstring holds."""
    check(asyncio.run(play(script, retry_base)))
