"""Long-lived protocol agents under the subprocess runtime: the Python reference library
(``alveary.agent``) and the POSIX shell agent of ``examples/``, as real processes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import alveary
import pytest
from alveary import AgentSpec, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator

AGENTS = Path(__file__).parent / "agents"


async def test_library_agent_runs_tasks_and_reports_hello(config, pool, agent_cmd) -> None:
    recorder = EventRecorder()
    cfg = config(pool("py", ["echo"], command=agent_cmd("library_agent.py")))
    async with orchestrator(cfg, recorder) as orch:
        handle = await orch.submit(TaskSpec("echo", {"n": [1, "two", None]}, requires={"echo"}))
        outcome = await handle.result(timeout=10)
        agent = orch.agents()[0]
    assert outcome.state is TaskState.SUCCEEDED
    assert outcome.value == {"n": [1, "two", None]}
    hello = next(e for e in recorder.events if e.type == "protocol.hello")
    assert hello.agent_id == agent.id
    assert hello.data["version"] == "2.1"
    assert hello.data["capacity"] == 4
    assert "barrier" in hello.data["capabilities"]


async def test_shell_agent_speaks_the_protocol(config, pool, agent_cmd) -> None:
    cfg = config(pool("sh", ["echo", "count"], command=agent_cmd("sh")))
    async with orchestrator(cfg) as orch:
        payload = {"text": 'quotes " and } braces', "list": [1, 2.5, True]}
        echo = await orch.submit(TaskSpec("echo", payload, requires={"echo"}))
        count = await orch.submit(TaskSpec("count", "abcdef", requires={"count"}))
        unknown = await orch.submit(TaskSpec("upper", "x", requires={"echo"}))
        outcomes = [await h.result(timeout=10) for h in (echo, count, unknown)]
    assert outcomes[0].value == payload
    assert outcomes[1].value == len('"abcdef"')
    assert outcomes[2].state is TaskState.FAILED
    assert outcomes[2].error == "PermanentFailure: unknown kind upper"
    assert outcomes[2].attempts == 1  # "retry": false fails at once


async def test_capacity_runs_jobs_concurrently(config, pool, agent_cmd) -> None:
    # Each "barrier" job returns only when all four run at once on the one agent.
    cfg = config(pool("py", ["barrier"], command=agent_cmd("library_agent.py")))
    cfg["pools"][0]["capacity"] = 4
    async with orchestrator(cfg) as orch:
        handles = [
            await orch.submit(TaskSpec("barrier", 4, requires={"barrier"})) for _ in range(4)
        ]
        outcomes = await asyncio.gather(*(h.result(timeout=10) for h in handles))
    assert all(o.state is TaskState.SUCCEEDED for o in outcomes)
    assert len({o.agent_id for o in outcomes}) == 1


async def test_errors_retry_and_permanent_failures_do_not(config, pool, agent_cmd) -> None:
    cfg = config(pool("py", ["fail", "perm"], command=agent_cmd("library_agent.py")))
    async with orchestrator(cfg) as orch:
        failing = await orch.submit(TaskSpec("fail", requires={"fail"}, max_attempts=2))
        permanent = await orch.submit(TaskSpec("perm", requires={"perm"}))
        dead, failed = await failing.result(timeout=10), await permanent.result(timeout=10)
    assert dead.state is TaskState.DEAD
    assert dead.attempts == 2
    assert dead.error == "AgentError: ValueError: no good on attempt 2"
    assert failed.state is TaskState.FAILED
    assert failed.attempts == 1
    assert failed.error == "PermanentFailure: never works"


async def test_logs_prints_and_stderr_go_to_the_agent_log(tmp_path, config, pool, agent_cmd):
    cfg = config(pool("py", ["log"], command=agent_cmd("library_agent.py")))
    async with orchestrator(cfg) as orch:
        outcome = await (await orch.submit(TaskSpec("log", "file.py", requires={"log"}))).result(
            timeout=10
        )
        name = orch.agents()[0].name
    # print() and raw writes to fd 1 cannot corrupt the channel: the result still arrives.
    assert outcome.value == "logged"
    text = (tmp_path / "logs" / f"{name}.log").read_text()
    assert "[info] task" in text
    assert "working on file.py" in text
    assert "stray print to stdout" in text
    assert "raw write to fd 1" in text
    assert "a note on stderr" in text
    assert "stopped" in text


async def test_heartbeats_reach_the_orchestrator(config, pool, agent_cmd, until) -> None:
    cfg = config(pool("py", ["echo"], command=agent_cmd("library_agent.py"), heartbeat=0.05))
    async with orchestrator(cfg) as orch:
        agent = orch.agents()[0]
        await until(lambda: "context" in agent.metrics)
        assert agent.metrics["context"] == 0.25
        assert agent.metrics["load"] == 0.0


class Pacer:
    """A plugin publishing a heartbeat interval, as the health plugin does."""

    name = "pacer"
    heartbeat_interval = 0.05


async def test_agents_heartbeat_at_the_interval_a_plugin_publishes(
    config, pool, agent_cmd, until
) -> None:
    cfg = config(pool("py", ["echo"], command=agent_cmd("library_agent.py")))
    async with orchestrator(cfg, Pacer()) as orch:
        agent = orch.agents()[0]
        await until(lambda: "load" in agent.metrics)


async def test_cancelling_a_running_task_cancels_it_in_the_agent(config, pool, agent_cmd, until):
    recorder = EventRecorder()
    cfg = config(pool("py", ["sleep", "echo"], command=agent_cmd("library_agent.py")))
    async with orchestrator(cfg, recorder) as orch:
        slow = await orch.submit(TaskSpec("sleep", 3600, requires={"sleep"}))
        await until(lambda: slow.task.state is TaskState.RUNNING)
        assert await slow.cancel()
        cancelled = await slow.result(timeout=10)
        # The agent answered the cancel, so it is still there and takes the next task.
        after = await (await orch.submit(TaskSpec("echo", 1, requires={"echo"}))).result(10)
    assert cancelled.state is TaskState.CANCELLED
    assert after.state is TaskState.SUCCEEDED
    assert after.agent_id == cancelled.agent_id
    assert "agent.failed" not in recorder.types()


async def test_a_timed_out_task_is_cancelled_and_retried(config, pool, agent_cmd) -> None:
    cfg = config(pool("py", ["sleep"], command=agent_cmd("library_agent.py")))
    async with orchestrator(cfg) as orch:
        handle = await orch.submit(TaskSpec("sleep", 3600, requires={"sleep"}, timeout=0.3))
        outcome = await handle.result(timeout=20)
        alive = [a.name for a in orch.agents()]
    assert outcome.state is TaskState.DEAD
    assert outcome.attempts == 3
    assert outcome.error == "timed out after 0.3 s"
    assert alive == ["py-1"]  # it answered every cancel: never replaced


async def test_python_m_alveary_agent_serves_a_plain_function(config, pool) -> None:
    command = [sys.executable, "-m", "alveary.agent", "sync_agent:handle"]
    spec = pool("hash", ["hash"], command=command, cwd=str(AGENTS))
    async with orchestrator(config(spec)) as orch:
        outcome = await (await orch.submit(TaskSpec("h", "abc", requires={"hash"}))).result(10)
    assert outcome.value == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


async def test_a_hello_offering_less_than_the_config_is_refused(config, agent_cmd) -> None:
    async with orchestrator(config()) as orch:
        with pytest.raises(alveary.StartFailed, match="does not offer review"):
            await orch.register(
                AgentSpec(
                    "a",
                    {"echo", "review"},
                    runtime="subprocess",
                    options={"command": agent_cmd("library_agent.py")},
                )
            )
        with pytest.raises(alveary.StartFailed, match="capacity 8; the agent offers 4"):
            await orch.register(
                AgentSpec(
                    "b",
                    {"echo"},
                    capacity=8,
                    runtime="subprocess",
                    options={"command": agent_cmd("library_agent.py")},
                )
            )
        assert orch.agents() == []


async def test_only_allowed_variables_and_secrets_reach_the_agent(
    config, pool, agent_cmd, monkeypatch
) -> None:
    monkeypatch.setenv("ALVEARY_TEST_TOKEN", "s3cr3t-value")
    monkeypatch.setenv("ALVEARY_TEST_PRIVATE", "not for agents")
    options = {
        "command": agent_cmd("library_agent.py"),
        "secrets": ["ALVEARY_TEST_TOKEN"],
        "env": {"MODE": "test"},
    }
    names = ["ALVEARY_TEST_TOKEN", "ALVEARY_TEST_PRIVATE", "MODE", "ALVEARY_AGENT", "PATH"]
    async with orchestrator(config(pool("py", ["env"], **options))) as orch:
        seen = (
            await (await orch.submit(TaskSpec("env", names, requires={"env"}))).result(10)
        ).value
    assert seen["ALVEARY_TEST_PRIVATE"] is None
    assert seen["MODE"] == "test"
    assert seen["ALVEARY_AGENT"] == "py-1"
    assert seen["PATH"] == os.environ["PATH"]
    # The secret reached the agent, and is masked in what comes back.
    assert seen["ALVEARY_TEST_TOKEN"] == "***"
