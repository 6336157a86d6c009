"""Agents that attack the orchestrator: they close their output but run on, invent message
types and metric keys by the million, send a 100 MB line, log without end or lie in their
hello. The orchestrator notices at once, keeps a bounded amount of what they send, and every
task ends in one terminal state."""

from __future__ import annotations

import math
from pathlib import Path

import alveary
import pytest
from alveary import AgentSpec, TaskSpec, TaskState, wire
from alveary.testing import EventRecorder, orchestrator


def rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


async def test_an_agent_that_closes_its_output_is_lost_at_once(
    config, pool, agent_cmd, tmp_path
) -> None:
    # Its task would wait an hour for an answer that cannot come: it is retried at once on
    # the replacement instead.
    recorder = EventRecorder()
    command = agent_cmd("hostile_agent.py", "close-output", str(tmp_path / "mark"))
    cfg = config(pool("w", ["work"], command=command), orchestrator={"restart_base": 0.0})
    async with orchestrator(cfg, recorder) as orch:
        spec = TaskSpec("work", None, requires={"work"}, timeout=3600)
        outcome = await (await orch.submit(spec)).result(timeout=60)
    assert outcome.state is TaskState.SUCCEEDED
    # Whether the task reached w-1 before its closed output was seen is a race: either way it
    # ends on the replacement, long before its hour-long timeout.
    assert outcome.value in (
        {"mode": "close-output", "attempt": 1, "name": "w-2"},
        {"mode": "close-output", "attempt": 2, "name": "w-2"},
    )
    [health] = [e.data for e in recorder.events if e.type == "agent.health"]
    assert health["to"] == "failed"
    assert health["reason"] == "it closed its output but kept running; the agent was killed"


async def test_closing_the_output_before_the_hello_fails_the_start_at_once(
    config, agent_cmd
) -> None:
    options = {"command": agent_cmd("hostile_agent.py", "close-before-hello")}
    options["start_timeout"] = 3600
    async with orchestrator(config()) as orch:
        with pytest.raises(alveary.StartFailed, match="it closed its output but kept running"):
            await orch.register(AgentSpec("a", {"work"}, runtime="subprocess", options=options))


async def test_a_hello_that_lies_fails_the_start_at_once(config, agent_cmd) -> None:
    options = {"command": agent_cmd("hostile_agent.py", "lying-hello"), "start_timeout": 3600}
    async with orchestrator(config()) as orch:
        with pytest.raises(alveary.StartFailed) as info:
            await orch.register(AgentSpec("a", {"work"}, runtime="subprocess", options=options))
    assert "its hello is malformed: hello: capacity must be a positive integer, got -1" in str(
        info.value
    )


async def run_one(orch: alveary.Orchestrator, payload: int) -> alveary.Outcome:
    spec = TaskSpec("work", payload, requires={"work"}, timeout=600)
    return await (await orch.submit(spec)).result(timeout=600)


async def test_a_million_unknown_message_types_keep_a_few_names(
    config, pool, agent_cmd, tmp_path
) -> None:
    recorder = EventRecorder()
    cfg = config(pool("w", ["work"], command=agent_cmd("hostile_agent.py", "unknown-types")))
    async with orchestrator(cfg, recorder) as orch:
        outcome = await run_one(orch, 1_000_000)
        [agent] = orch.agents()
        decoder = orch.plugins["subprocess"].runtime.live[agent.id].conn.decoder
        counted, names = decoder.unknown, set(decoder.unknown_types)
    assert outcome.state is TaskState.SUCCEEDED
    assert counted == 1_000_000
    assert names == {f"t{i}" for i in range(wire.MAX_UNKNOWN_TYPES)}
    assert not [e for e in recorder.events if e.type == "protocol.error"]
    log = (tmp_path / "logs" / "w-1.log").read_text()
    assert log.count("messages of unknown type '") == wire.MAX_UNKNOWN_TYPES
    assert "1000000 messages of unknown types (t0, t1," in log  # noted when it stopped


async def test_a_million_metric_keys_keep_a_few_and_no_nan(
    config, pool, agent_cmd, tmp_path
) -> None:
    cfg = config(pool("w", ["work"], command=agent_cmd("hostile_agent.py", "metric-keys")))
    async with orchestrator(cfg) as orch:
        outcome = await run_one(orch, 1_000_000)
        [agent] = orch.agents()
        metrics = dict(agent.metrics)
    assert outcome.state is TaskState.SUCCEEDED
    assert len(metrics) <= wire.MAX_METRICS
    assert all(math.isfinite(value) for value in metrics.values())
    assert all(len(key) <= wire.MAX_NAME for key in metrics)
    assert "load" not in metrics  # it only ever sent NaN
    log = (tmp_path / "logs" / "w-1.log").read_text()
    assert log.count("heartbeat fields dropped") == 1


async def test_a_100_mb_line_is_dropped_without_being_held(config, pool, agent_cmd) -> None:
    recorder = EventRecorder()
    cfg = config(pool("w", ["work"], command=agent_cmd("hostile_agent.py", "huge-line")))
    async with orchestrator(cfg, recorder) as orch:
        before = rss_kib()
        outcome = await run_one(orch, 100 * 2**20)
        grown = rss_kib() - before
    assert outcome.state is TaskState.SUCCEEDED
    [error] = [e.data for e in recorder.events if e.type == "protocol.error"]
    expected = f"{100 * 2**20} bytes, longer than max_line ({wire.MAX_LINE}); dropped"
    assert error["reason"] == expected
    assert grown < 50 * 1024  # at most max_line (8 MiB) and a chunk were ever held, not 100 MB


async def test_long_log_and_error_lines_are_cut(config, pool, agent_cmd, tmp_path) -> None:
    cfg = config(pool("w", ["work"], command=agent_cmd("hostile_agent.py", "long-logs")))
    async with orchestrator(cfg) as orch:
        outcome = await run_one(orch, 4 * 2**20)
    assert outcome.state is TaskState.SUCCEEDED
    lines = (tmp_path / "logs" / "w-1.log").read_text().splitlines()
    logged = next(line for line in lines if "LLLL" in line)
    noted = next(line for line in lines if "agent error: EEEE" in line)
    for line in (logged, noted):
        assert len(line) < wire.MAX_TEXT + 200
        assert line.endswith(f"({4 * 2**20 - wire.MAX_TEXT} more characters cut)")
    assert logged.startswith(f"[{'info' * 4}] ")  # the level is cut too
