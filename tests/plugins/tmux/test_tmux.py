"""The tmux runtime with a real tmux server: sessions a person can attach to, the protocol
over FIFOs, pane output in the agent's log, sessions killed from outside detected and
replaced, everything cleaned up at shutdown."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from pathlib import Path

import alveary
import pytest
from alveary import AgentSpec, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator
from alveary_subprocess import AgentLog
from alveary_tmux import Config, TmuxRuntime

ALVEARY = str(Path(sys.executable).parent / "alveary")


@pytest.mark.parametrize("transport", ["stdio", "fifo"])
async def test_agents_run_in_sessions_named_after_them(
    tmp_path, config, pool, tmux, transport
) -> None:
    cfg = config(
        pool("py", ["echo", "log"], "python", transport=transport),
        pool("sh", ["echo", "count"], "sh", transport=transport),
    )
    async with orchestrator(cfg) as orch:
        sessions = tmux("list-sessions", "-F", "#{session_name}").stdout.split()
        py = await (await orch.submit(TaskSpec("log", "a.py", requires={"log"}))).result(10)
        sh = await (await orch.submit(TaskSpec("count", "abc", requires={"count"}))).result(10)
    assert sorted(sessions) == ["py-1", "sh-1"]
    assert py.value == "logged"
    assert sh.value == 5
    log = (tmp_path / "logs" / "py-1.log").read_text()
    # what the program printed on its terminal (the pane) and its protocol log lines
    assert "a note on stderr" in log
    assert "working on a.py" in log
    assert "stray print to stdout" in log


async def test_attach_by_name(tmp_path, config, pool, socket_name, tmux, until) -> None:
    (tmp_path / "alveary.toml").write_text(f'[plugins.tmux]\nsocket = "{socket_name}"\n')
    cli = [ALVEARY, "agents", "attach", "--config", str(tmp_path / "alveary.toml")]

    async def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True)

    viewer = f"{socket_name}-viewer"
    async with orchestrator(config(pool("sh", ["echo"], "sh"))):
        printed = await run(*cli, "sh-1", "--print")
        missing = await run(*cli, "nobody", "--print")
        # A real attach: the command runs in a terminal (a session of another tmux server)
        # and becomes a client of the agent's session.
        try:
            await run("tmux", "-L", viewer, "new-session", "-d", shlex.join([*cli, "sh-1"]))
            await until(lambda: tmux("list-clients", "-t", "=sh-1").stdout.strip())
            clients = tmux("list-clients", "-t", "=sh-1", "-F", "#{session_name}").stdout
        finally:
            await run("tmux", "-L", viewer, "kill-server")
    assert printed.returncode == 0
    assert printed.stdout.strip() == f"tmux -L {socket_name} attach-session -t =sh-1"
    assert missing.returncode == 1
    assert "no tmux session for agent 'nobody'" in missing.stderr
    assert "sessions: sh-1" in missing.stderr
    assert clients.strip() == "sh-1"


async def test_a_session_killed_from_outside_is_replaced_and_its_task_retried(
    config, pool, tmux, until
) -> None:
    recorder = EventRecorder()
    cfg = config(pool("py", ["once"], "python"), orchestrator={"restart_base": 0.0})
    async with orchestrator(cfg, recorder) as orch:
        handle = await orch.submit(TaskSpec("once", None, requires={"once"}))
        await until(lambda: handle.task.state is TaskState.RUNNING)
        assert tmux("kill-session", "-t", "=py-1").returncode == 0
        outcome = await handle.result(timeout=20)
        await until(lambda: [a.name for a in orch.agents()] == ["py-2"])
        sessions = tmux("list-sessions", "-F", "#{session_name}").stdout.split()
    assert outcome.state is TaskState.SUCCEEDED
    assert outcome.value == "attempt 2"
    assert sessions == ["py-2"]
    [health] = [e.data for e in recorder.events if e.type == "agent.health"]
    assert health["to"] == "failed"
    assert "py-1" in health["reason"]  # "... was closed from outside" or "... is gone"


async def test_the_health_check_asks_tmux(tmp_path, socket_name, tmux, until) -> None:
    # The runtime on its own, with the poll slowed down: the check itself asks tmux.
    runtime = TmuxRuntime(Config(socket=socket_name, log_dir=str(tmp_path), poll_interval=60))
    command = ["sh", str(Path(__file__).parents[3] / "examples" / "protocol-agent.sh")]
    agent = alveary.Agent(
        "id-1", AgentSpec("w", {"echo"}, runtime="tmux", options={"command": command})
    )
    await runtime.start(agent)
    try:
        assert await runtime.check(agent) is None
        assert runtime.session(agent) == "w"
        tmux("kill-session", "-t", "=w")
        await until(lambda: tmux("has-session", "-t", "=w").returncode != 0)
        report = await runtime.check(agent)
        assert report is not None
        assert report.status is alveary.HealthStatus.FAILED
        assert "w" in report.reason
        assert "closed" in report.reason or "gone" in report.reason
    finally:
        await runtime.stop(agent)
        await runtime.close()


async def test_a_program_that_exits_at_start_fails_its_start(config, pool) -> None:
    command = ["sh", "-c", "echo cannot load the model >&2; exit 3"]
    async with orchestrator(config()) as orch:
        spec = AgentSpec("bad", {"x"}, runtime="tmux", options={"command": command})
        with pytest.raises(alveary.StartFailed) as info:
            await orch.register(spec)
    assert str(info.value).endswith(
        "the process exited with code 3 before its hello; last output: cannot load the model"
    )


async def test_the_last_output_comes_from_the_pane_whatever_the_log_copy_does(
    config, monkeypatch
) -> None:
    # The copy of the pane to the log (pipe-pane, a FIFO, a reader) may arrive after the
    # start fails, on a loaded machine: the pane itself, history included, must tell.
    monkeypatch.setattr(AgentLog, "tail", lambda self: "")
    command = ["sh", "-c", "echo first >&2; echo cannot load the model >&2; exit 3"]
    async with orchestrator(config()) as orch:
        spec = AgentSpec("bad", {"x"}, runtime="tmux", options={"command": command})
        with pytest.raises(alveary.StartFailed) as info:
            await orch.register(spec)
    assert str(info.value).endswith(
        "exited with code 3 before its hello; last output: first | cannot load the model"
    )


async def test_shutdown_removes_every_session(tmp_path, config, pool, tmux) -> None:
    cfg = config(pool("sh", ["echo"], "sh"), pool("py", ["echo"], "python"))
    async with orchestrator(cfg) as orch:
        assert len(tmux("list-sessions").stdout.splitlines()) == 2
        run_dir = orch.plugins["tmux"].runtime.watch.run_dir
        assert run_dir is not None
        assert run_dir.is_dir()
    assert tmux("list-sessions").returncode != 0  # no sessions, so no server
    assert not run_dir.exists()
    assert "stopped" in (tmp_path / "logs" / "py-1.log").read_text()


def test_a_pool_without_a_command_is_a_config_error(config) -> None:
    cfg = config({"name": "x", "runtime": "tmux", "options": {"cwd": "."}})
    with pytest.raises(alveary.ConfigError, match=r"pools\[0\].options: command: required"):
        alveary.Orchestrator.from_config(cfg)
