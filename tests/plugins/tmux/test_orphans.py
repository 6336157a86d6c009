"""Sessions an orchestrator left running when it was killed are stopped by the next start
on the same store; a server or process that is not the recorded one never is."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from alveary.testing import EventRecorder, orchestrator
from alveary_subprocess import process_record
from alveary_subprocess.orphans import started

# A protocol agent that outlives its orchestrator: it ignores SIGTERM and SIGHUP, and the
# end of its input.
AGENT = """
import json, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
hello = {"type": "hello", "protocol": 1, "capabilities": ["work"], "capacity": 1}
print(json.dumps(hello), flush=True)
for line in sys.stdin:
    pass
time.sleep(1000)
"""

# An orchestrator in a process of its own: it prints its agents' pids once they are up and
# the store holds their record, then runs until it is killed.
RUN = """
import asyncio, json, sys
from alveary.testing import orchestrator

async def main():
    async with orchestrator(json.loads(sys.argv[1])) as orch:
        runtime = orch.plugins["tmux"].runtime
        await orch.store.commit()
        print(json.dumps([runtime.pid(agent) for agent in orch.agents()]), flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def _durable(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    plugins = config["plugins"]
    plugins["enabled"] = ["state", *plugins["enabled"]]
    plugins["state"] = {"path": str(tmp_path / "a.db")}
    return {**config, "orchestrator": {"store": "sqlite"}}


def _running(pid: int) -> bool:
    return started(pid) is not None


async def test_a_restart_stops_the_sessions_a_killed_orchestrator_left(
    tmp_path: Path, config, pool, tmux, until
) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    (tmp_path / "run.py").write_text(RUN)
    command = [sys.executable, str(tmp_path / "agent.py")]
    agents = {**pool("w", ["work"], command, grace=0.2), "size": {"min": 2, "max": 2}}
    cfg = _durable(tmp_path, config(agents))
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(tmp_path / "run.py"), json.dumps(cfg), stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 60)
    finally:
        child.kill()
        await child.wait()
    old = [int(pid) for pid in json.loads(line)]
    assert len(old) == 2
    old_server = tmux("display-message", "-p", "#{pid}").stdout.strip()
    assert old_server
    assert all(_running(pid) for pid in old)  # orphans: nobody stops them
    assert sorted(tmux("list-sessions", "-F", "#{session_name}").stdout.split()) == ["w-1", "w-2"]

    recorder = EventRecorder()
    async with orchestrator(cfg, recorder) as orch:
        runtime = orch.plugins["tmux"].runtime
        await until(lambda: not any(_running(pid) for pid in old))
        new = [runtime.pid(agent) for agent in orch.agents()]
        assert len(new) == 2
        assert all(pid is not None and _running(pid) for pid in new)
        panes = {int(pid) for pid in tmux("list-panes", "-a", "-F", "#{pane_pid}").stdout.split()}
        assert panes == set(new)
        assert tmux("display-message", "-p", "#{pid}").stdout.strip() != old_server
        stopped = recorder.of("tmux.orphan_stopped")
        assert sorted(event.data["pid"] for event in stopped) == sorted(old)
        assert {event.data["session"] for event in stopped} == {"w-1", "w-2"}
    assert orch.store.get_value("tmux", "agents") is None  # all stopped


async def test_a_server_and_a_process_that_are_not_the_recorded_ones_are_left_alone(
    tmp_path: Path, config, tmux
) -> None:
    # A tmux server alveary did not start, with a session of an agent's name, and a
    # process that took the recorded pid.
    assert tmux("new-session", "-d", "-s", "w-1", "sleep 1000").returncode == 0
    socket = tmux("display-message", "-p", "#{socket_path}").stdout.strip()
    pane = int(tmux("display-message", "-p", "-t", "=w-1:", "#{pane_pid}").stdout)
    stranger = await asyncio.create_subprocess_exec("sleep", "1000", start_new_session=True)
    try:
        forged = process_record(stranger.pid)
        assert forged is not None
        forged.update(started=forged["started"] - 1, orchestrator=1)
        forged.update(socket=socket, session="w-1", owner="1@elsewhere")
        cfg = _durable(tmp_path, config())
        async with orchestrator(cfg) as orch:  # a run that "died" with this record
            orch.store.put_value("tmux", "agents", {"w-1": forged})
        recorder = EventRecorder()
        async with orchestrator(cfg, recorder) as orch:
            await orch.plugins["tmux"].runtime.orphans.cleared()
            assert stranger.returncode is None
            assert _running(stranger.pid)
            assert _running(pane)
            assert tmux("has-session", "-t", "=w-1").returncode == 0
            assert not recorder.of("tmux.orphan_stopped")
            assert orch.store.get_value("tmux", "agents") is None  # forgotten
    finally:
        stranger.kill()
        await stranger.wait()
