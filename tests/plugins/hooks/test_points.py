"""Blocking and critical hooks: the attempt waits for them at ``task.before``/``task.after``,
for longer than the kernel's ``hook_timeout``, and a critical one's failure fails it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alveary import AgentSpec, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator, until

SLOW = {"orchestrator": {"hook_timeout": 0.05, "max_failures": 2}}
"""A kernel budget far shorter than any command: only ``attempt_budget`` lets them finish."""


def hooks(*commands: dict[str, Any]) -> dict[str, Any]:
    return {**SLOW, "plugins": {"enabled": ["hooks"], "hooks": {"commands": list(commands)}}}


def echo_agent(name: str = "a1", handler: Any = "alveary.testing:echo") -> AgentSpec:
    return AgentSpec(name, {"echo"}, options={"handler": handler})


async def test_a_blocking_hook_runs_before_the_handler_and_the_attempt_waits(
    script: Callable[[str], list[str]], tmp_path: Path
) -> None:
    seen = tmp_path / "before.json"
    command = script(f"""
        import os, sys, time
        time.sleep(0.3)  # six times hook_timeout
        with open({str(seen)!r}, "w") as f:
            f.write(sys.stdin.read())
    """)

    async def handler(task: Any) -> Any:
        return json.loads(seen.read_text())  # the hook has finished: its file is there

    config = hooks({"command": command, "on": ["task.before"], "mode": "blocking"})
    async with orchestrator(config) as orch:
        await orch.register(echo_agent(handler=handler))
        outcome = await (await orch.submit(TaskSpec("k", payload=[1], requires={"echo"}))).result()
        assert orch.metrics().plugin_failures.get("hooks", 0) == 0
    assert outcome.ok
    assert outcome.value["type"] == "task.before"
    assert outcome.value["task"]["payload"] == [1]
    assert outcome.value["data"]["attempt"] == 1


async def test_a_failing_blocking_hook_is_reported_and_the_attempt_goes_on(
    script: Callable[[str], list[str]],
) -> None:
    rec = EventRecorder()
    command = script("import sys; sys.exit(1)")
    config = hooks({"command": command, "on": ["task.after"], "mode": "blocking", "name": "b"})
    async with orchestrator(config, rec) as orch:
        await orch.register(echo_agent())
        handle = await orch.submit(TaskSpec("k", payload=5, requires={"echo"}))
        outcome = await handle.result()
    assert (outcome.state, outcome.value) == (TaskState.SUCCEEDED, 5)
    (failed,) = rec.of("hook.failed")
    assert (failed.task_id, failed.data["hook"], failed.data["event"]) == (
        handle.id,
        "b",
        "task.after",
    )


async def test_a_critical_hook_that_fails_before_rejects_each_attempt(
    script: Callable[[str], list[str]],
) -> None:
    command = script("import sys; print('not allowed', file=sys.stderr); sys.exit(2)")
    config = hooks({"command": command, "on": ["task.before"], "mode": "critical", "name": "c"})
    ran: list[Any] = []

    async def handler(task: Any) -> Any:
        ran.append(task)

    async with orchestrator(config) as orch:
        await orch.register(echo_agent(handler=handler))
        spec = TaskSpec("k", requires={"echo"}, max_attempts=2)
        outcome = await (await orch.submit(spec)).result()
    assert (outcome.state, outcome.attempts) == (TaskState.DEAD, 2)
    assert outcome.error == (
        "rejected: hooks: critical hook 'c' failed: exited with code 2 (not allowed)"
    )
    assert ran == []


async def test_a_critical_hook_after_fails_a_success_and_sees_its_value(
    script: Callable[[str], list[str]], tmp_path: Path
) -> None:
    """The hook reads the attempt's value on stdin and refuses it."""
    command = script("""
        import json, sys
        event = json.load(sys.stdin)
        sys.exit(0 if event["data"]["value"] == "good" else 4)
    """)
    config = hooks({"command": command, "on": ["task.after"], "mode": "critical", "name": "c"})
    async with orchestrator(config) as orch:
        await orch.register(echo_agent())
        good = await (await orch.submit(TaskSpec("k", payload="good", requires={"echo"}))).result()
        spec = TaskSpec("k", payload="bad", requires={"echo"}, max_attempts=1)
        bad = await (await orch.submit(spec)).result()
    assert good.ok
    assert (bad.state, bad.error) == (
        TaskState.DEAD,
        "critical hook 'c' failed: exited with code 4",
    )


async def test_a_hanging_blocking_hook_is_bounded_by_the_attempt_timeout(
    script: Callable[[str], list[str]], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    command = script(f"""
        import os, time
        with open({str(pid_file)!r}, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(600)
    """)
    config = hooks({"command": command, "on": ["task.before"], "mode": "blocking", "timeout": 600})
    async with orchestrator(config) as orch:
        await orch.register(echo_agent())
        spec = TaskSpec("k", requires={"echo"}, timeout=1, max_attempts=1)
        outcome = await (await orch.submit(spec)).result(timeout=60)
        assert orch.metrics().plugin_failures.get("hooks", 0) == 0
    assert (outcome.state, outcome.error) == (TaskState.DEAD, "timed out after 1 s")
    pid = int(pid_file.read_text())
    await until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=30)


async def test_the_match_picks_the_tasks_a_blocking_hook_holds(
    recorder_cmd: tuple[list[str], Path], runs: Callable[[Path], list[dict[str, Any]]]
) -> None:
    command, out = recorder_cmd
    config = hooks(
        {"command": command, "on": ["task.before"], "mode": "blocking", "match": {"kind": "a"}}
    )
    async with orchestrator(config) as orch:
        await orch.register(echo_agent())
        for kind in ("a", "b", "a"):
            assert (await (await orch.submit(TaskSpec(kind, requires={"echo"}))).result()).ok
    assert [r["env"]["ALVEARY_TASK_KIND"] for r in runs(out)] == ["a", "a"]
    assert {r["env"]["ALVEARY_EVENT_TYPE"] for r in runs(out)} == {"task.before"}


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] == "Z"
    except FileNotFoundError:
        return True
