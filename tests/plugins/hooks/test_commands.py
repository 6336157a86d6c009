"""Background shell hooks, run for real: what a command gets, and commands that misbehave."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alveary import AgentSpec, PermanentFailure, TaskSpec, TaskState
from alveary.testing import EventRecorder, alive, orchestrator, until

Runs = Callable[[Path], list[dict[str, Any]]]
HOSTILE = [
    'it\'s "quoted"',
    "$(touch {marker})",
    "`touch {marker}`",
    "--force",
    "-rf /",
    "; touch {marker}",
    "a\nnew line",
]


def hooks(*commands: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"plugins": {"enabled": ["hooks"], "hooks": {"commands": list(commands), **settings}}}


async def fail(task: Any) -> Any:
    raise PermanentFailure(task.payload)


async def test_the_event_reaches_the_command_on_stdin_and_as_variables(
    recorder_cmd: tuple[list[str], Path], runs: Runs
) -> None:
    command, out = recorder_cmd
    config = hooks({"command": command, "on": ["task.succeeded"], "env": {"HOOK_X": "1"}})
    async with orchestrator(config) as orch:
        await orch.register(AgentSpec("a1", {"echo"}, options={"handler": "alveary.testing:echo"}))
        handle = await orch.submit(TaskSpec("review", payload="p", requires={"echo"}))
        assert (await handle.result()).ok
        await until(lambda: len(runs(out)) == 1, timeout=30)
    (run,) = runs(out)
    assert run["argv"] == [str(out)]  # exactly as configured: nothing of the event in it
    event = json.loads(run["stdin"])
    assert (event["type"], event["task_id"], event["task"]["kind"]) == (
        "task.succeeded",
        handle.id,
        "review",
    )
    env = run["env"]
    assert env["ALVEARY_EVENT_TYPE"] == "task.succeeded"
    assert env["ALVEARY_TASK_ID"] == handle.id
    assert env["ALVEARY_TASK_KIND"] == "review"
    assert env["ALVEARY_AGENT_NAME"] == "a1"
    assert env["ALVEARY_AGENT_ID"] == event["agent_id"]
    assert env["ALVEARY_HOOK"] == Path(command[0]).name
    assert env["HOOK_X"] == "1"


async def test_wildcards_and_the_field_match_choose_the_events(
    recorder_cmd: tuple[list[str], Path], runs: Runs
) -> None:
    command, out = recorder_cmd
    config = hooks({"command": command, "on": ["task.*"], "match": {"kind": ["lint", "rev*"]}})
    async with orchestrator(config) as orch:
        await orch.register(AgentSpec("a1", {"echo"}, options={"handler": "alveary.testing:echo"}))
        for kind in ("review", "build", "lint"):
            await (await orch.submit(TaskSpec(kind, requires={"echo"}))).result()

        def done() -> list[dict[str, Any]]:
            return [r for r in runs(out) if r["env"]["ALVEARY_EVENT_TYPE"] == "task.succeeded"]

        await until(lambda: len(done()) == 2, timeout=30)
        assert {r["env"]["ALVEARY_TASK_KIND"] for r in done()} == {"lint", "review"}
        assert orch.plugins["hooks"].stats()["commands"][Path(command[0]).name]["dropped"] == 0
    assert "build" not in {r["env"]["ALVEARY_TASK_KIND"] for r in runs(out)}


async def test_hostile_values_reach_the_command_only_as_data(
    tmp_path: Path, recorder_cmd: tuple[list[str], Path], runs: Runs
) -> None:
    """Quotes, ``$()``, backticks, leading dashes and newlines in an error arrive intact on
    stdin and in ``ALVEARY_ERROR``, and nothing runs them: not the hook's own arguments, and
    not a shell hook that uses the variable the way it should (quoted)."""
    marker = tmp_path / "pwned"
    command, out = recorder_cmd
    shell_out = tmp_path / "shell.txt"
    shell = ["sh", "-c", 'printf "%s" "$ALVEARY_ERROR" >> "$0"', str(shell_out)]
    config = hooks(
        {"command": command, "on": ["task.failed"]},
        {"command": shell, "on": ["task.failed"], "name": "sh"},
    )
    values = [value.format(marker=marker) for value in HOSTILE]
    async with orchestrator(config) as orch:
        await orch.register(AgentSpec("a1", {"x"}, capacity=4, options={"handler": fail}))
        for value in values:
            await (await orch.submit(TaskSpec("k", payload=value, requires={"x"}))).result()
        await until(lambda: len(runs(out)) == len(values), timeout=60)
        await until(lambda: orch.plugins["hooks"].stats()["commands"]["sh"]["delivered"] == 7)
    errors = sorted(r["env"]["ALVEARY_ERROR"] for r in runs(out))
    assert errors == sorted(f"PermanentFailure: {value}" for value in values)
    assert sorted(json.loads(r["stdin"])["data"]["error"] for r in runs(out)) == errors
    assert all(r["argv"] == [str(out)] for r in runs(out))
    assert all(f"PermanentFailure: {value}" in shell_out.read_text() for value in values)
    assert not marker.exists()


async def test_a_hook_that_exits_3_is_reported_and_retried(
    script: Callable[[str], list[str]], tmp_path: Path
) -> None:
    tries = tmp_path / "tries"
    command = script(f"""
        import sys
        with open({str(tries)!r}, "a") as f:
            f.write("x")
        print("something broke", file=sys.stderr)
        sys.exit(3)
    """)
    rec = EventRecorder()
    config = hooks(
        {"command": command, "on": ["orchestrator.started"], "name": "three", "retries": 2}
    )
    async with orchestrator(config, rec) as orch:
        failed = await rec.wait_for("hook.failed", timeout=60)
        stats = orch.plugins["hooks"].stats()["commands"]["three"]
    assert failed.data["hook"] == "three"
    assert failed.data["exit"] == 3
    assert failed.data["error"] == "exited with code 3"
    assert failed.data["output"] == "something broke"
    assert failed.data["tries"] == 3
    assert tries.read_text() == "xxx"
    assert stats == {"delivered": 0, "failed": 1, "dropped": 0, "sampled_out": 0, "retries": 2}


async def test_a_program_that_does_not_exist_is_reported_once_without_retries(
    tmp_path: Path,
) -> None:
    rec = EventRecorder()
    missing = str(tmp_path / "no-such-program")
    config = hooks({"command": [missing, "--x"], "on": ["orchestrator.started"], "retries": 5})
    async with orchestrator(config, rec):
        failed = await rec.wait_for("hook.failed", timeout=60)
    assert failed.data["error"] == f"cannot run {missing!r}: no such file"
    assert failed.data["tries"] == 1


async def test_a_hook_that_hangs_is_killed_with_its_process_group(
    script: Callable[[str], list[str]], tmp_path: Path
) -> None:
    """The hook starts a grandchild that ignores SIGTERM; both are gone after the timeout."""
    pids = tmp_path / "pids"
    command = script(f"""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
        with open({str(pids)!r}, "w") as f:
            f.write(f"{{os.getpid()}} {{child.pid}}")
        time.sleep(600)
    """)
    rec = EventRecorder()
    config = hooks(
        {"command": command, "on": ["orchestrator.started"], "name": "hang", "timeout": 1},
        grace=0.2,
    )
    async with orchestrator(config, rec):
        failed = await rec.wait_for("hook.failed", timeout=60)
    assert failed.data["error"] == "timed out after 1 s; its process group was stopped"
    for pid in map(int, pids.read_text().split()):
        await until(lambda pid=pid: not alive(pid), timeout=30)


async def test_a_hook_that_writes_100_mb_is_cut_off(script: Callable[[str], list[str]]) -> None:
    command = script("""
        import sys
        block = b"x" * 2**20
        for _ in range(100):
            sys.stdout.buffer.write(block)
        sys.stdout.flush()
    """)
    rec = EventRecorder()
    config = hooks({"command": command, "on": ["orchestrator.started"], "name": "flood"})
    async with orchestrator(config, rec):
        failed = await rec.wait_for("hook.failed", timeout=60)
    assert failed.data["error"] == (
        "wrote more than max_output (1048576 bytes); its process group was killed"
    )
    assert len(failed.data["output"]) <= 500


async def test_a_full_queue_drops_and_counts_and_dispatch_goes_on(
    script: Callable[[str], list[str]],
) -> None:
    slow = script("import time; time.sleep(0.5)")
    config = hooks({"command": slow, "on": ["task.*"], "name": "slow"}, queue=2, workers=1)
    async with orchestrator(config) as orch:
        await orch.register(
            AgentSpec("a1", {"echo"}, capacity=8, options={"handler": "alveary.testing:echo"})
        )
        handles = [await orch.submit(TaskSpec("k", requires={"echo"})) for _ in range(50)]
        outcomes = [await h.result(timeout=30) for h in handles]
        stats = orch.plugins["hooks"].stats()["commands"]["slow"]
    assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 50
    assert stats["dropped"] >= 50 * 3 - 3  # 4 events per task; 1 running and 2 queued at most


async def test_stats_are_reported_as_an_event_when_they_move(
    script: Callable[[str], list[str]],
) -> None:
    rec = EventRecorder()
    config = hooks(
        {"command": script("pass"), "on": ["orchestrator.started"], "name": "ok"},
        stats_interval=0.05,
    )
    async with orchestrator(config, rec):
        stats = await rec.wait_for("hook.stats", timeout=60)
    assert stats.data["commands"]["ok"]["delivered"] == 1
