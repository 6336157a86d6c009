"""Agents an orchestrator left running when it was killed are stopped by the next start on
the same store, and a process that merely reuses a recorded id never is."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from alveary.testing import EventRecorder, orchestrator
from alveary_subprocess import process_record
from alveary_subprocess.orphans import started

# A protocol agent that outlives its orchestrator: it ignores SIGTERM and the end of its
# input, and starts a helper in its process group that must go with it.
AGENT = """
import json, os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
helper = subprocess.Popen(["sleep", "1000"])
with open(os.path.join(sys.argv[1], os.environ["ALVEARY_AGENT"]), "w") as f:
    f.write(str(helper.pid))
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
        runtime = orch.plugins["subprocess"].runtime
        await orch.store.commit()
        print(json.dumps([runtime.pid(agent) for agent in orch.agents()]), flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def _config(tmp_path: Path, *pools: dict[str, Any]) -> dict[str, Any]:
    return {
        "orchestrator": {"store": "sqlite"},
        "plugins": {
            "enabled": ["state", "subprocess"],
            "state": {"path": str(tmp_path / "a.db")},
            "subprocess": {"log_dir": str(tmp_path / "logs")},
        },
        "pools": list(pools),
    }


def _running(pid: int) -> bool:
    return started(pid) is not None


async def _run_and_kill(tmp_path: Path, config: dict[str, Any]) -> list[int]:
    """Start an orchestrator process, wait for its agents, SIGKILL it; its agents' pids."""
    (tmp_path / "run.py").write_text(RUN)
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(tmp_path / "run.py"), json.dumps(config), stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 60)
    finally:
        child.kill()
        await child.wait()
    return [int(pid) for pid in json.loads(line)]


async def test_a_restart_stops_the_agents_a_killed_orchestrator_left(
    tmp_path: Path, pool, until
) -> None:
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (tmp_path / "agent.py").write_text(AGENT)
    command = [sys.executable, str(tmp_path / "agent.py"), str(helpers)]
    config = _config(tmp_path, pool("w", ["work"], size=2, command=command, grace=0.2))
    old = await _run_and_kill(tmp_path, config)
    assert len(old) == 2
    await until(lambda: len(list(helpers.iterdir())) == 2)
    left = old + [int(path.read_text()) for path in helpers.iterdir()]
    for path in helpers.iterdir():
        path.unlink()
    assert all(_running(pid) for pid in left)  # orphans: nobody stops them

    recorder = EventRecorder()
    try:
        async with orchestrator(config, recorder) as orch:
            runtime = orch.plugins["subprocess"].runtime
            await until(lambda: not any(_running(pid) for pid in left))
            new = [runtime.pid(agent) for agent in orch.agents()]
            assert len(new) == 2
            assert all(pid is not None and _running(pid) for pid in new)
            assert not set(new) & set(old)
            stopped = recorder.of("subprocess.orphan_stopped")
            assert sorted(event.data["pid"] for event in stopped) == sorted(old)
            record = orch.store.get_value("subprocess", "agents")
            assert sorted(entry["pid"] for entry in record.values()) == sorted(new)
            assert {entry["orchestrator"] for entry in record.values()} == {os.getpid()}
        assert orch.store.get_value("subprocess", "agents") is None  # all stopped
    finally:
        for pid in left:
            _kill(pid)


async def test_a_recorded_pid_now_used_by_another_process_is_left_alone(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    stranger = await asyncio.create_subprocess_exec("sleep", "1000", start_new_session=True)
    try:
        forged = process_record(stranger.pid)
        assert forged is not None
        forged = {**forged, "started": forged["started"] - 1, "orchestrator": 1}
        async with orchestrator(config) as orch:  # a run that "died" with this record
            orch.store.put_value("subprocess", "agents", {"w-1": forged})
        recorder = EventRecorder()
        async with orchestrator(config, recorder) as orch:
            await orch.plugins["subprocess"].runtime.orphans.cleared()
            assert stranger.returncode is None
            assert _running(stranger.pid)
            assert not recorder.of("subprocess.orphan_stopped")
            assert orch.store.get_value("subprocess", "agents") is None  # forgotten
    finally:
        stranger.kill()
        await stranger.wait()


def test_the_record_names_the_process_and_its_orchestrator() -> None:
    record = process_record(os.getpid())
    assert record is not None
    assert record["pid"] == os.getpid()
    assert record["pgid"] == os.getpgid(0)
    assert record["orchestrator"] == os.getpid()
    assert record["started"] == started(os.getpid())
    assert process_record(2**22 + 1) is None  # beyond pid_max: no such process


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
