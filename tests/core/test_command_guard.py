"""``alveary_command_check`` and ``Orchestrator.guard_command``: the strictest verdict wins,
the gate fails closed, and a command that waits for an approval runs only once someone
approves it."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from alveary import (
    Agent,
    AgentSpec,
    CommandVerdict,
    Denied,
    NotFound,
    Orchestrator,
    Principal,
    Task,
    TaskSpec,
    TaskState,
    hookimpl,
)
from alveary.testing import EventRecorder, orchestrator, until

FAST = {"orchestrator": {"hook_timeout": 0.05, "max_failures": 2, "cancel_grace": 0.2}}


class Says:
    """A guard that answers ``verdict`` for every command (or raises it, if an exception)."""

    def __init__(self, name: str, verdict: Any) -> None:
        self.name = name
        self.verdict = verdict
        self.seen: list[tuple[Any, str | None]] = []

    @hookimpl
    def alveary_command_check(self, command: Any, workspace: str | None) -> Any:
        self.seen.append((command, workspace))
        if isinstance(self.verdict, BaseException):
            raise self.verdict
        return self.verdict


async def runner(orch: Orchestrator, ran: list[str]) -> None:
    """An agent whose tasks are commands: it asks the guards, then 'runs' the payload."""

    async def handler(task: Task) -> str:
        agent = next(a for a in orch.agents() if a.name == "runner")
        await orch.guard_command(task, agent, ["tool", "--", task.payload], "/work/space")
        ran.append(task.payload)
        return "ran"

    await orch.register(AgentSpec("runner", {"tool"}, capacity=4, options={"handler": handler}))


async def run(orch: Orchestrator, payload: str) -> Any:
    handle = await orch.submit(TaskSpec("tool", payload, requires={"tool"}, max_attempts=3))
    return await handle.result(timeout=30)


async def test_without_a_guard_every_command_runs() -> None:
    ran: list[str] = []
    async with orchestrator(FAST) as orch:
        await runner(orch, ran)
        assert (await run(orch, "rm -rf /")).state is TaskState.SUCCEEDED
    assert ran == ["rm -rf /"]


@pytest.mark.parametrize(
    ("verdicts", "runs", "event"),
    [
        (["allow", "allow"], True, None),
        (["allow", "log"], True, "command.flagged"),
        (["log", "block"], False, "command.blocked"),
        ([None, "block"], False, "command.blocked"),
        ([None, None], True, None),
    ],
)
async def test_the_strictest_verdict_wins(
    verdicts: list[str | None], runs: bool, event: str | None
) -> None:
    guards = [
        Says(f"g{i}", v if v is None else CommandVerdict(v, "high", ("r",), f"rule {v}"))
        for i, v in enumerate(verdicts)
    ]
    recorder = EventRecorder()
    ran: list[str] = []
    async with orchestrator(FAST, *guards, recorder) as orch:
        await runner(orch, ran)
        outcome = await run(orch, "x")
    assert guards[0].seen == [(["tool", "--", "x"], "/work/space")]
    assert (outcome.state is TaskState.SUCCEEDED) is runs
    if not runs:  # blocked at once, without the retries it had left
        assert outcome.attempts == 1
        assert "command blocked: rule block" in (outcome.error or "")
    assert ran == (["x"] if runs else [])
    if event is not None:
        [seen] = recorder.of(event)
        assert seen.data["command"] == "tool -- x"
        assert seen.data["rules"] == ["r"]


@pytest.mark.parametrize(
    "answer",
    [RuntimeError("guard broke"), "allow", 42, math.nan, CommandVerdict, {"action": "allow"}],
    ids=["raises", "a string", "a number", "nan", "the class", "a dict"],
)
async def test_a_guard_that_raises_or_answers_nonsense_blocks(answer: Any) -> None:
    ran: list[str] = []
    async with orchestrator(FAST, Says("broken", answer)) as orch:
        await runner(orch, ran)
        outcome = await run(orch, "x")
        assert outcome.state is TaskState.FAILED
        assert "the guard of plugin 'broken' failed" in (outcome.error or "")
        # once disabled for failing, it still blocks: the gate stays closed
        await run(orch, "y")
        assert "broken" in orch.metrics().disabled_plugins
        outcome = await run(orch, "z")
        assert outcome.state is TaskState.FAILED
        assert "plugin 'broken' is disabled" in (outcome.error or "")
    assert ran == []


async def test_a_guard_that_hangs_blocks_within_its_budget() -> None:
    class Hangs:
        name = "hangs"

        @hookimpl
        async def alveary_command_check(self) -> None:
            await asyncio.Event().wait()

    ran: list[str] = []
    async with orchestrator(FAST, Hangs()) as orch:
        await runner(orch, ran)
        outcome = await run(orch, "x")
    assert outcome.state is TaskState.FAILED
    assert ran == []


def test_a_verdict_with_an_unknown_action_is_refused_where_it_is_made() -> None:
    with pytest.raises(ValueError, match="action must be one of allow, log, approve, block"):
        CommandVerdict("maybe")


async def test_an_approval_holds_the_command_until_someone_decides() -> None:
    recorder = EventRecorder()
    ran: list[str] = []
    approve = CommandVerdict("approve", "high", ("rm-rf",), "recursive delete")
    async with orchestrator(FAST, Says("asks", approve), recorder) as orch:
        await runner(orch, ran)
        first = await orch.submit(TaskSpec("tool", "one", requires={"tool"}))
        second = await orch.submit(TaskSpec("tool", "two", requires={"tool"}, max_attempts=3))
        await until(lambda: len(orch.approvals()) == 2)
        waiting = orch.approvals()
        assert [a.task_id for a in waiting] == [first.id, second.id]
        assert waiting[0].command == "tool -- one"
        assert waiting[0].reason == "recursive delete"
        assert orch.get_task(first.id).state is TaskState.RUNNING
        assert ran == []

        decided = await orch.decide(first.id, True)
        assert decided.task_id == first.id
        assert (await first.result(timeout=30)).value == "ran"
        await orch.decide(second.id, False, "not on my watch")
        outcome = await second.result(timeout=30)
        assert outcome.state is TaskState.FAILED
        assert outcome.attempts == 1
        assert "command rejected: by anonymous: not on my watch" in (outcome.error or "")
        assert orch.approvals() == []
        with pytest.raises(NotFound, match="waits for no approval"):
            await orch.decide(first.id, True)
    assert ran == ["one"]
    assert [e.data["by"] for e in recorder.of("command.approved")] == ["anonymous"]
    assert len(recorder.of("command.approval")) == 2


async def test_a_cancelled_task_stops_waiting_for_its_approval() -> None:
    ran: list[str] = []
    async with orchestrator(FAST, Says("asks", CommandVerdict("approve"))) as orch:
        await runner(orch, ran)
        handle = await orch.submit(TaskSpec("tool", "x", requires={"tool"}))
        await until(lambda: len(orch.approvals()) == 1)
        await orch.cancel(handle.id)
        assert (await handle.result(timeout=30)).state is TaskState.CANCELLED
        await until(lambda: orch.approvals() == [])
    assert ran == []


async def test_deciding_is_checked_as_task_approve() -> None:
    class Roles:
        name = "roles"

        @hookimpl
        def alveary_authenticate(self, credentials: dict[str, Any]) -> Principal | None:
            who = credentials.get("who")
            return Principal(who, frozenset({who})) if who else None

        @hookimpl
        def alveary_authorize(self, principal: Principal, action: str) -> bool:
            return action != "task.approve" or principal.id == "boss"

    ran: list[str] = []
    async with orchestrator(FAST, Roles(), Says("asks", CommandVerdict("approve"))) as orch:
        boss = {"who": "boss"}

        async def handler(task: Task) -> str:
            agent: Agent = orch.agents()[0]
            await orch.guard_command(task, agent, "tool", None)
            ran.append(task.payload)
            return "ran"

        spec = AgentSpec("runner", {"tool"}, options={"handler": handler})
        await orch.register(spec, credentials=boss)
        handle = await orch.submit(TaskSpec("tool", "x", requires={"tool"}), credentials=boss)
        await until(lambda: len(orch.approvals()) == 1)
        with pytest.raises(Denied):
            await orch.decide(handle.id, True, credentials={"who": "intern"})
        with pytest.raises(Denied):
            await orch.decide(handle.id, True)
        await orch.decide(handle.id, True, credentials=boss)
        assert (await handle.result(timeout=30)).value == "ran"
