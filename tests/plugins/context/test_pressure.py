"""Context pressure: busy agents take no high-priority work, full ones sleep or are recycled
through their pool, each step announced with its reason."""

from __future__ import annotations

import asyncio
from typing import Any

import alveary
from alveary import AgentSpec, Priority, Task, TaskSpec
from alveary.testing import EventRecorder, echo, orchestrator, until
from alveary_context import Context


def config(pools: list[dict[str, Any]] | None = None, **context: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"strategy": "context"},
        "plugins": {"enabled": ["context"], "context": {"explore": 0.0, **context}},
        "pools": pools or [],
    }


def pool(size: int, handler: str = "alveary.testing:echo") -> dict[str, Any]:
    return {
        "name": "chat",
        "size": {"min": size},
        "capabilities": ["chat"],
        "capacity": 2,
        "options": {"handler": handler},
    }


def context_of(orch: alveary.Orchestrator) -> Context:
    plugin = orch.plugins["context"]
    assert isinstance(plugin, Context)
    return plugin


def of_type(recorder: EventRecorder, type: str) -> list[alveary.Event]:
    return [e for e in recorder.events if e.type == type]


async def run(orch: alveary.Orchestrator, priority: Priority, count: int) -> set[str]:
    names = set()
    for _ in range(count):
        spec = TaskSpec("chat", requires={"chat"}, priority=priority)
        outcome = await (await orch.submit(spec)).result(timeout=5)
        names.add(orch.agent(outcome.agent_id or "").name)
    return names


async def test_a_busy_agent_takes_no_high_priority_work() -> None:
    recorder = EventRecorder()
    async with orchestrator(config(), recorder) as orch:
        busy = await orch.register(AgentSpec("busy", {"chat"}, options={"handler": echo}))
        await orch.register(AgentSpec("free", {"chat"}, options={"handler": echo}))
        orch.heartbeat(busy.id, context=0.82)
        await until(lambda: bool(of_type(recorder, "context.busy")))
        event = of_type(recorder, "context.busy")[0]
        assert event.agent_id == busy.id
        assert event.data["reason"] == "context 82% >= 80%: no high-priority work"
        assert await run(orch, Priority.HIGH, 10) == {"free"}
        assert await run(orch, Priority.CRITICAL, 5) == {"free"}
        assert "busy" in await run(orch, Priority.LOW, 20)
        orch.heartbeat(busy.id, context=0.3)
        await until(lambda: bool(of_type(recorder, "context.clear")))
        assert "busy" in await run(orch, Priority.HIGH, 20)


async def test_an_agent_outside_a_pool_sleeps_and_wakes() -> None:
    recorder = EventRecorder()
    async with orchestrator(config(), recorder) as orch:
        tired = await orch.register(AgentSpec("tired", {"chat"}, options={"handler": echo}))
        await orch.register(AgentSpec("other", {"chat"}, options={"handler": echo}))
        orch.heartbeat(tired.id, context=0.9)
        await until(lambda: bool(of_type(recorder, "context.sleep")))
        sleep = of_type(recorder, "context.sleep")[0]
        assert sleep.data["action"] == "sleep"
        assert sleep.data["reason"] == "context 90% >= 85%"
        assert await run(orch, Priority.LOW, 20) == {"other"}
        orch.heartbeat(tired.id, context=0.6)  # consolidating, not yet below 0.5
        await asyncio.sleep(0.15)
        assert not of_type(recorder, "context.wake")
        orch.heartbeat(tired.id, context=0.2)
        await until(lambda: bool(of_type(recorder, "context.wake")))
        assert "tired" in await run(orch, Priority.LOW, 20)


async def test_usage_reported_in_a_task_value_counts() -> None:
    async def reply(task: Task) -> dict[str, Any]:
        return {"text": "done", "context": 0.91}

    recorder = EventRecorder()
    async with orchestrator(config(), recorder) as orch:
        agent = await orch.register(AgentSpec("a", {"chat"}, options={"handler": reply}))
        spec = TaskSpec("chat", requires={"chat"})
        outcome = await (await orch.submit(spec)).result(timeout=5)
        assert outcome.value == {"text": "done", "context": 0.91}
        assert agent.metrics["context"] == 0.91
        sleep = of_type(recorder, "context.sleep")
        assert [e.agent_id for e in sleep] == [agent.id]  # at once, not at the next tick
        await orch.register(AgentSpec("b", {"chat"}, options={"handler": echo}))
        assert await run(orch, Priority.LOW, 10) == {"b"}


async def test_a_pool_agent_is_recycled_and_its_sessions_handed_over() -> None:
    recorder = EventRecorder()
    async with orchestrator(config([pool(2)]), recorder) as orch:
        await until(lambda: len(orch.agents()) == 2)
        for i in range(12):
            spec = TaskSpec("chat", requires={"chat"}, affinity_key=f"s{i}")
            await (await orch.submit(spec)).result(timeout=5)
        plugin = context_of(orch)
        old = max(orch.agents(), key=lambda a: plugin.sessions.count(a.id))
        held = plugin.sessions.of(old.id)
        orch.heartbeat(old.id, context=0.88)
        await until(lambda: bool(of_type(recorder, "context.handover")))
        sleep = of_type(recorder, "context.sleep")[0]
        assert sleep.agent_id == old.id
        assert sleep.data["action"] == "recycle"
        assert sleep.data["sessions"] == len(held)
        assert old.id not in {a.id for a in orch.agents()}
        fresh = orch.agent("chat-3")
        assert plugin.sessions.of(fresh.id) == held
        handover = of_type(recorder, "context.handover")[0]
        assert handover.data == {"from": old.id, "to": "chat-3", "sessions": len(held)}
        # a handed-over session's next task goes to the replacement
        spec = TaskSpec("chat", requires={"chat"}, affinity_key=held[0])
        outcome = await (await orch.submit(spec)).result(timeout=5)
        assert outcome.agent_id == fresh.id
        # the recovery point: profiles were saved before the agent went
        assert orch.store.get_value("context", "profiles")


async def test_critical_usage_recycles_at_once_and_requeues_without_an_attempt(
    gate: Any,
) -> None:
    recorder = EventRecorder()
    async with orchestrator(config(), recorder) as orch:
        first = await orch.register(
            AgentSpec("first", {"chat"}, options={"handler": gate}), pool="chat"
        )
        handle = await orch.submit(TaskSpec("chat", "payload", requires={"chat"}))
        assert handle.task.agent_id == first.id
        await orch.register(AgentSpec("second", {"chat"}, options={"handler": echo}))
        orch.heartbeat(first.id, context=0.97)
        outcome = await handle.result(timeout=5)
        assert outcome.ok
        assert orch.agent(outcome.agent_id or "").name == "second"
        assert outcome.attempts == 1  # the interrupted attempt was not counted
        sleep = of_type(recorder, "context.sleep")[0]
        assert sleep.data["critical"] is True
        assert sleep.data["in_flight"] == 1
        assert sleep.data["reason"] == "context 97% >= 95%"
        gate.open()


async def test_a_pool_recycles_a_few_at_a_time_fullest_first() -> None:
    recorder = EventRecorder()
    async with orchestrator(config([pool(4)], max_recycling=0.25), recorder) as orch:
        await until(lambda: len(orch.agents()) == 4)
        ids = sorted(a.id for a in orch.agents())
        usage = dict(zip(ids, [0.86, 0.92, 0.88, 0.9], strict=True))
        for agent_id, value in usage.items():
            orch.heartbeat(agent_id, context=value)
        await until(lambda: len(of_type(recorder, "context.sleep")) == 4)
        order = [e.data["usage"] for e in of_type(recorder, "context.sleep")]
        assert order == [0.92, 0.9, 0.88, 0.86]
        # one at a time: each left before the next was chosen
        stopped = [e.seq for e in recorder.events if e.type == "agent.stopped"]
        slept = [e.seq for e in of_type(recorder, "context.sleep")]
        assert all(stopped[i] < slept[i + 1] for i in range(3))
        await until(lambda: len(orch.agents()) == 4)
