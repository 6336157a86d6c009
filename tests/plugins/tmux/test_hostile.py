"""Agents in tmux sessions that attack the orchestrator: the end of their output is seen
through the FIFO, and what they send is bounded as under the subprocess runtime."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import alveary
import pytest
from alveary import AgentSpec, TaskSpec, TaskState, wire
from alveary.testing import EventRecorder, alive, orchestrator, until
from alveary_tmux.server import TmuxServer

HOSTILE = Path(__file__).parents[1] / "subprocess" / "agents" / "hostile_agent.py"


def hostile(mode: str, *args: str) -> list[str]:
    return [sys.executable, str(HOSTILE), mode, *args]


async def test_an_agent_that_closes_its_output_is_lost_at_once(config, pool, tmp_path) -> None:
    recorder = EventRecorder()
    command = hostile("close-output", str(tmp_path / "mark"))
    cfg = config(pool("w", ["work"], command), orchestrator={"restart_base": 0.0})
    async with orchestrator(cfg, recorder) as orch:
        spec = TaskSpec("work", None, requires={"work"}, timeout=3600)
        outcome = await (await orch.submit(spec)).result(timeout=60)
    assert outcome.state is TaskState.SUCCEEDED
    assert outcome.value == {"mode": "close-output", "attempt": 2, "name": "w-2"}
    [health] = [e.data for e in recorder.events if e.type == "agent.health"]
    assert health["reason"] == "it closed its output but kept running; the agent was killed"


async def test_closing_the_output_before_the_hello_is_not_the_end(config, pool) -> None:
    # Before its hello the runtime holds the FIFO open itself (the agent may open its end
    # late): only the start timeout applies.
    options = {"command": hostile("close-before-hello"), "start_timeout": 1}
    async with orchestrator(config()) as orch:
        with pytest.raises(alveary.StartFailed, match=r"no hello within 1 s"):
            await orch.register(AgentSpec("a", {"work"}, runtime="tmux", options=options))


async def test_metric_keys_are_bounded(config, pool, tmp_path) -> None:
    async with orchestrator(config(pool("m", ["work"], hostile("metric-keys")))) as orch:
        spec = TaskSpec("work", 100_000, requires={"work"}, timeout=600)
        outcome = await (await orch.submit(spec)).result(timeout=600)
        [agent] = orch.agents()
        metrics = dict(agent.metrics)
    assert outcome.state is TaskState.SUCCEEDED
    assert 0 < len(metrics) <= wire.MAX_METRICS
    assert "load" not in metrics
    assert (tmp_path / "logs" / "m-1.log").read_text().count("heartbeat fields dropped") == 1


async def test_a_cancelled_tmux_command_does_not_run_on(tmp_path) -> None:
    # The client of a tmux command whose caller gave up is killed and reaped, not left to
    # finish (or to hang) on its own.
    pidfile = tmp_path / "client.pid"
    program = tmp_path / "tmux"
    program.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 1000\n")
    program.chmod(0o755)
    call = asyncio.ensure_future(TmuxServer(str(program), "unused").run("list-sessions"))
    await until(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    client = int(pidfile.read_text())
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert not alive(client)
