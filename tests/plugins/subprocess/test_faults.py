"""Agents that crash mid-task, hang, flood, print garbage or exit at start: the orchestrator
stays up, every task ends retried-and-succeeded or dead with a clear reason, nothing is lost."""

from __future__ import annotations

import os
import signal

import alveary
import pytest
from alveary import AgentSpec, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator
from alveary_subprocess import Config, SubprocessRuntime


def states(handles: list[alveary.TaskHandle]) -> list[TaskState]:
    return [h.task.state for h in handles]


async def test_a_crash_mid_task_is_retried_on_the_replacement(config, pool, agent_cmd) -> None:
    recorder = EventRecorder()
    cfg = config(pool("w", ["work"], command=agent_cmd("faulty_agent.py", "crash-first")))
    async with orchestrator(cfg, recorder) as orch:
        handle = await orch.submit(TaskSpec("work", "x", requires={"work"}))
        outcome = await handle.result(timeout=20)
        names = [a.name for a in orch.agents()]
    assert outcome.state is TaskState.SUCCEEDED
    assert outcome.value == {"mode": "crash-first", "attempt": 2}
    assert names == ["w-2"]  # the pool replaced the agent that died
    health = [e for e in recorder.events if e.type == "agent.health"]
    assert health[0].data["to"] == "failed"
    assert health[0].data["reason"].startswith("the process exited with code 3")
    assert "segfault while working on" in health[0].data["reason"]
    retry = next(e for e in recorder.events if e.type == "task.pending" and "error" in e.data)
    assert "AgentLost: the process exited with code 3" in retry.data["error"]


async def test_an_agent_that_always_crashes_leaves_the_task_dead(
    config, pool, agent_cmd, until
) -> None:
    # No restart backoff: the pool replaces each crashed agent at the next tick.
    cfg = config(
        pool("w", ["work"], command=agent_cmd("faulty_agent.py", "crash")),
        orchestrator={"restart_base": 0.0},
    )
    async with orchestrator(cfg) as orch:
        handles = [
            await orch.submit(TaskSpec("work", i, requires={"work"}, max_attempts=2))
            for i in range(3)
        ]
        outcomes = [await h.result(timeout=30) for h in handles]
        await until(lambda: orch.agents())  # still running, with a fresh agent
    assert [o.state for o in outcomes] == [TaskState.DEAD] * 3
    assert all("exited with code 3" in (o.error or "") for o in outcomes)


async def test_a_hung_agent_is_killed_and_replaced(config, pool, agent_cmd, until) -> None:
    recorder = EventRecorder()
    cfg = config(
        pool("w", ["work"], command=agent_cmd("faulty_agent.py", "hang")),
        subprocess={"cancel_grace": 0.2},
    )
    async with orchestrator(cfg, recorder) as orch:
        spec = TaskSpec("work", 1, requires={"work"}, timeout=0.2, max_attempts=1)
        outcome = await (await orch.submit(spec)).result(timeout=30)
        # It did not answer the cancel either: killed, and the pool replaces it.
        await until(lambda: [a.name for a in orch.agents()] == ["w-2"])
    assert outcome.state is TaskState.DEAD
    assert outcome.error == "timed out after 0.2 s"
    [health] = [e.data for e in recorder.events if e.type == "agent.health"]
    assert health["to"] == "failed"
    assert health["reason"].startswith("it did not answer the cancel of task")
    assert health["reason"].endswith("within 0.2 s; the agent was killed")


async def test_garbage_lines_are_reported_with_their_line_numbers(config, pool, agent_cmd):
    recorder = EventRecorder()
    cfg = config(pool("w", ["work"], command=agent_cmd("faulty_agent.py", "garbage")))
    async with orchestrator(cfg, recorder) as orch:
        outcome = await (await orch.submit(TaskSpec("work", 1, requires={"work"}))).result(10)
    assert outcome.state is TaskState.SUCCEEDED
    errors = [e.data for e in recorder.events if e.type == "protocol.error"]
    # line 1 is the hello; the unknown type "gossip" (line 5) is ignored, not an error
    assert [(e["line"], e["reason"]) for e in errors] == [
        (2, "not JSON (Expecting value)"),
        (3, "not a JSON object"),
        (4, 'no string "type"'),
        (6, 'result: no string "id"'),
    ]
    assert errors[0]["text"] == "this is not json"


async def test_an_agent_printing_only_garbage_is_failed(config, pool, agent_cmd) -> None:
    recorder = EventRecorder()
    cfg = config(
        pool("w", ["work"], command=agent_cmd("faulty_agent.py", "garbage-only")),
        subprocess={"max_bad_lines": 50},
    )
    async with orchestrator(cfg, recorder) as orch:
        outcome = await (
            await orch.submit(TaskSpec("work", 1, requires={"work"}, max_attempts=2))
        ).result(timeout=30)
    assert outcome.state is TaskState.DEAD
    assert "50 malformed protocol lines in a row" in (outcome.error or "")
    # The retry ran on the replacement, not on the agent being killed; each reported 10 lines
    # and then kept quiet.
    reported = [e.agent_id for e in recorder.events if e.type == "protocol.error"]
    assert len(set(reported)) == 2
    assert all(reported.count(agent) == 10 for agent in set(reported))


async def test_an_overlong_line_is_dropped_and_the_agent_goes_on(config, pool, agent_cmd):
    recorder = EventRecorder()
    options = {"command": agent_cmd("faulty_agent.py", "flood"), "max_line": 100_000}
    async with orchestrator(config(pool("w", ["work"], **options)), recorder) as orch:
        outcome = await (await orch.submit(TaskSpec("work", 1, requires={"work"}))).result(10)
    assert outcome.value == {"mode": "flood", "attempt": 1}
    [error] = [e.data for e in recorder.events if e.type == "protocol.error"]
    assert error["line"] == 2
    assert error["reason"] == "300000 bytes, longer than max_line (100000); dropped"


async def test_an_agent_exiting_at_start_fails_its_start_with_the_reason(config, agent_cmd):
    async with orchestrator(config()) as orch:
        options = {"command": agent_cmd("faulty_agent.py", "exit")}
        spec = AgentSpec("a", {"work"}, runtime="subprocess", options=options)
        with pytest.raises(alveary.StartFailed) as info:
            await orch.register(spec)
        assert str(info.value).endswith(
            "the process exited with code 7 before its hello; "
            "last output: fatal: cannot open the model file"
        )
        assert orch.agents() == []


async def test_silence_at_start_times_out(config, agent_cmd) -> None:
    async with orchestrator(config()) as orch:
        options = {"command": agent_cmd("faulty_agent.py", "silent"), "start_timeout": 0.3}
        with pytest.raises(alveary.StartFailed, match=r"no hello within 0\.3 s"):
            await orch.register(AgentSpec("a", {"work"}, runtime="subprocess", options=options))


async def test_a_newer_protocol_is_refused(config, agent_cmd) -> None:
    async with orchestrator(config()) as orch:
        options = {"command": agent_cmd("faulty_agent.py", "future")}
        with pytest.raises(alveary.StartFailed, match="speaks protocol 2; this orchestrator"):
            await orch.register(AgentSpec("a", {"work"}, runtime="subprocess", options=options))


async def test_a_pool_that_cannot_start_leaves_the_orchestrator_up(config, pool, agent_cmd):
    cfg = config(
        pool("broken", ["work"], command=agent_cmd("faulty_agent.py", "exit")),
        pool("good", ["echo"], command=agent_cmd("sh")),
    )
    async with orchestrator(cfg) as orch:
        waiting = await orch.submit(TaskSpec("work", 1, requires={"work"}))
        good = await (await orch.submit(TaskSpec("echo", 1, requires={"echo"}))).result(10)
        assert good.state is TaskState.SUCCEEDED
        assert waiting.task.state is TaskState.QUEUED  # waits for an agent, not lost
    # Stopping a non-durable orchestrator cancels what still waits: one terminal state each.
    assert waiting.task.state is TaskState.CANCELLED


async def test_the_health_check_answers_from_the_process_state(tmp_path, agent_cmd, until):
    # The runtime on its own (no orchestrator to tell): only the health check reports.
    runtime = SubprocessRuntime(Config(log_dir=str(tmp_path)))
    agent = alveary.Agent("id-1", AgentSpec("w", {"echo"}, options={"command": agent_cmd("sh")}))
    await runtime.start(agent)
    try:
        assert await runtime.check(agent) is None
        pid = runtime.pid(agent)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await until(lambda: runtime.health(agent) is not None)
        report = runtime.health(agent)
        assert report.status is alveary.HealthStatus.FAILED
        assert report.reason == "the process was killed by SIGKILL"
        assert runtime.pid(agent) is None
    finally:
        await runtime.stop(agent)
