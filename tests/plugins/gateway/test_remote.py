"""Remote agents: real agent processes connecting over a WebSocket (``python -m alveary.agent
... --connect``), and hostile peers speaking raw frames."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import alveary
import httpx
import pytest
from alveary import AgentSpec, Orchestrator, TaskSpec, TaskState
from alveary.testing import until
from alveary_gateway.cli import status_command
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .conftest import config, gateway_of

AGENTS = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    from alveary.agent import agent

    @agent(capabilities={"echo"}, capacity=2, version="1.0")
    def echo(job):
        return {"payload": job.payload, "pid": os.getpid()}

    @agent(capabilities={"stall"})
    def stall(job):
        # the first attempt hangs (its process is killed meanwhile), the next one answers
        if job.attempt == 1:
            Path(os.environ["STALLED"]).write_text(str(os.getpid()))
            time.sleep(3600)
        return "second try"
    """
)


class Agents:
    """Agent processes started with ``--connect``, killed at the end of the test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "remote_agents.py").write_text(AGENTS)
        self.running: list[asyncio.subprocess.Process] = []

    async def start(self, target: str, url: str, *extra: str, **env: str) -> Any:
        """Start an agent; what it says on standard error goes to ``<pid>.err``."""
        err = self.folder / f"agent-{len(self.running)}.err"
        with err.open("wb") as stderr:
            process = await self._spawn(target, url, extra, env, stderr)
        process.err = err  # type: ignore[attr-defined]
        self.running.append(process)
        return process

    async def _spawn(
        self, target: str, url: str, extra: tuple[str, ...], env: dict[str, str], stderr: Any
    ) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alveary.agent",
            f"remote_agents:{target}",
            "--connect",
            url,
            "--retry-max",
            "0.5",
            *extra,
            cwd=self.folder,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )


@pytest.fixture
async def agents(tmp_path: Path) -> AsyncIterator[Agents]:
    started = Agents(tmp_path)
    yield started
    for process in started.running:
        if process.returncode is None:
            process.kill()
        await process.wait()


@pytest.fixture
async def orch(tmp_path: Path) -> AsyncIterator[Orchestrator]:
    settings = config()
    settings["plugins"]["gateway"]["remote"] = {
        "log_dir": str(tmp_path / "logs"),
        "start_timeout": 5.0,
        "cancel_grace": 1.0,
        "max_bad_lines": 3,
    }
    settings["pools"] = [
        {
            "name": "echoers",
            "runtime": "remote",
            "capabilities": ["echo"],
            "size": {"min": 1, "max": 2},
        }
    ]
    orchestrator = Orchestrator.from_config(settings)
    async with orchestrator:
        yield orchestrator
    await closed(orchestrator)


async def closed(orch: Orchestrator) -> None:
    """Wait until the gateway's server has closed its socket (it stops in the background)."""
    server = gateway_of(orch).server
    assert server is not None
    await server.closed


def ws_url(orch: Orchestrator) -> str:
    return gateway_of(orch).url.replace("http://", "ws://") + "/v1/agents/connect"


async def ready(orch: Orchestrator) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway_of(orch).url) as client:
        return await client.get("/v1/ready")


async def test_remote_agents_fill_their_pool_run_tasks_and_a_full_pool_refuses(
    orch: Orchestrator, agents: Agents, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = await ready(orch)
    assert answer.status_code == 503
    assert answer.json()["missing"] == {"echoers": 1}
    url = gateway_of(orch).url
    assert await asyncio.to_thread(status_command, ["--url", url]) == 0
    assert "not ready: waiting for remote agents (1 for echoers)" in capsys.readouterr().out
    url = ws_url(orch)
    await agents.start("echo", url)
    await agents.start("echo", url)
    await until(lambda: len(orch.pools["echoers"].agents) == 2, 30)
    assert (await ready(orch)).status_code == 200
    names = sorted(a.name for a in orch.agents())
    assert names == ["echo", "echo-2"]
    assert all(a.pool == "echoers" and a.spec.runtime == "remote" for a in orch.agents())

    hostile = ["it's", '"$(rm -rf /)"', "--force", "-n", "`id`", "\n", "\u2028", {"a": [None]}]
    handles = [await orch.submit(TaskSpec("echo", requires={"echo"}, payload=p)) for p in hostile]
    results = [(await h.result(timeout=30)).value for h in handles]
    assert [r["payload"] for r in results] == hostile

    third = await agents.start("echo", url)
    assert await asyncio.wait_for(third.wait(), 30) == 2
    err = third.err.read_text()
    assert "code 4409: remote pool full: echoers (2)" in err
    assert len(orch.agents()) == 2


async def test_a_dropped_connection_fails_the_agent_and_its_task_runs_elsewhere_at_once(
    orch: Orchestrator, agents: Agents, tmp_path: Path
) -> None:
    stalled = tmp_path / "stalled"
    url = ws_url(orch)
    await agents.start("stall", url, STALLED=str(stalled))
    await agents.start("stall", url, STALLED=str(stalled))
    await until(lambda: len(orch.agents()) == 2, 30)
    handle = await orch.submit(TaskSpec("stall", requires={"stall"}, timeout=3600, max_attempts=2))
    await until(stalled.exists, 30)
    os.kill(int(stalled.read_text()), signal.SIGKILL)
    assert (await handle.result(timeout=30)).value == "second try"
    task = orch.get_task(handle.id)
    assert task.attempts == 2
    await until(lambda: len(orch.agents()) == 1, 30)


async def test_an_agent_connects_once_the_orchestrator_listens_and_again_after_a_restart(
    tmp_path: Path, agents: Agents
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await agents.start("echo", f"ws://127.0.0.1:{port}/v1/agents/connect")
    await asyncio.sleep(0.5)  # it is retrying by now: nothing listens yet
    assert process.returncode is None
    settings = config(listen=f"127.0.0.1:{port}")
    settings["plugins"]["gateway"]["remote"] = {"log_dir": str(tmp_path / "logs")}
    async with Orchestrator.from_config(settings) as orch:
        await until(lambda: len(orch.agents()) == 1, 30)
        handle = await orch.submit(TaskSpec("echo", requires={"echo"}, payload="late"))
        assert (await handle.result(timeout=30)).value["payload"] == "late"
    await closed(orch)
    # the agent is not the orchestrator's to end: it connects again, to the next run
    async with Orchestrator.from_config(settings) as orch:
        await until(lambda: len(orch.agents()) == 1, 60)
        handle = await orch.submit(TaskSpec("echo", requires={"echo"}, payload="again"))
        assert (await handle.result(timeout=30)).value["payload"] == "again"
        assert process.returncode is None
        await orch.deregister(orch.agents()[0].id)  # deregistered: shutdown, exit 0
        assert await asyncio.wait_for(process.wait(), 30) == 0
    await closed(orch)


async def test_a_cut_connection_is_opened_again_and_the_agent_serves_on(
    orch: Orchestrator, agents: Agents
) -> None:
    await agents.start("echo", ws_url(orch))
    # ready, not only registered: the runtime holds the connection once the start is done
    await until(lambda: [a.state for a in orch.agents()] == [alveary.AgentState.READY], 30)
    first = orch.agents()[0]
    link = gateway_of(orch).remote.links[first.id]
    await link.socket.close(1011, "cut for the test")
    await until(lambda: [a.id for a in orch.agents()] not in ([], [first.id]), 30)
    handle = await orch.submit(TaskSpec("echo", requires={"echo"}, payload=1))
    assert (await handle.result(timeout=30)).value["payload"] == 1


async def test_the_remote_runtime_starts_no_agent_itself(orch: Orchestrator) -> None:
    with pytest.raises(alveary.StartFailed, match="connect to /v1/agents/connect"):
        await orch.register(AgentSpec("nobody", {"x"}, runtime="remote"))


async def refused(url: str, *frames: str, **options: Any) -> tuple[int | None, str]:
    """Send ``frames`` as a raw peer; the close code and reason the server answered."""
    async with connect(url, open_timeout=10, **options) as socket:
        for frame in frames:
            await socket.send(frame)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 30)  # the server sends nothing but its close
        assert socket.close_code is not None
        return socket.close_code, socket.close_reason or ""


def hello(**fields: Any) -> str:
    return json.dumps({"type": "hello", "protocol": 1, **fields})


@pytest.mark.parametrize(
    ("query", "frames", "code", "reason"),
    [
        ("", ['{"type":"result","id":"x","value":1}'], 4400, "must be its hello"),
        ("", ["not json"], 4400, "malformed: not JSON"),
        ("", [hello(protocol=99)], 4400, "protocol 99"),
        ("", [hello(name="../../etc/passwd", capabilities=["x"])], 4400, "is not [A-Za-z0-9]"),
        ("", [hello(name="-rf", capabilities=["x"])], 4400, "is not [A-Za-z0-9]"),
        ("?pool=nope", [hello(name="lost", capabilities=["echo"])], 4409, "no remote pool"),
    ],
)
async def test_a_peer_whose_hello_is_wrong_is_told_why(
    orch: Orchestrator, query: str, frames: list[str], code: int, reason: str
) -> None:
    found = await refused(ws_url(orch) + query, *frames)
    assert found[0] == code
    assert reason in found[1]
    assert orch.agents() == []


async def test_a_silent_or_vague_peer_is_refused(tmp_path: Path) -> None:
    settings = config()
    settings["plugins"]["gateway"]["remote"] = {
        "log_dir": str(tmp_path / "logs"),
        "start_timeout": 0.2,
    }
    async with Orchestrator.from_config(settings) as orch:
        code, reason = await refused(ws_url(orch))
        assert (code, reason) == (4400, "no hello within 0.2 s")
        # with no remote pool to take it, an agent must say what it can do
        code, reason = await refused(ws_url(orch), hello(name="bare"))
        assert code == 4409
        assert "offers no capabilities" in reason
    await closed(orch)


async def test_a_peer_that_floods_malformed_frames_or_ignores_a_cancel_is_cut_off(
    orch: Orchestrator,
) -> None:
    url = ws_url(orch)
    async with connect(url, open_timeout=10) as flood:
        await flood.send(hello(name="flood", capabilities=["flood"]))
        await until(lambda: any(a.name == "flood" for a in orch.agents()), 30)
        for _ in range(3):
            await flood.send("{{{")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(flood.recv(), 30)
    assert flood.close_code == 1008
    await until(lambda: not orch.agents(), 30)

    async with connect(url, open_timeout=10) as deaf:
        await deaf.send(hello(name="deaf", capabilities=["deaf"]))
        await until(lambda: any(a.name == "deaf" for a in orch.agents()), 30)
        handle = await orch.submit(TaskSpec("deaf", requires={"deaf"}, timeout=0.2, max_attempts=1))
        sent = json.loads(await asyncio.wait_for(deaf.recv(), 30))
        assert sent["type"] == "task"
        assert json.loads(await asyncio.wait_for(deaf.recv(), 30))["type"] == "cancel"
        with pytest.raises(ConnectionClosed):  # no answer to the cancel within cancel_grace
            await asyncio.wait_for(deaf.recv(), 30)
    assert deaf.close_code == 1008
    assert "did not answer the cancel" in (deaf.close_reason or "")
    assert (await handle.result(timeout=30)).state is TaskState.DEAD
