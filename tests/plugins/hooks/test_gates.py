"""Quality gates: real checks on a real agent's workspace after each successful attempt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alveary import AgentSpec, PermanentFailure, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator

CHECK = """
import os, sys
note = open("note.txt").read().strip()
assert os.environ["ALVEARY_WORKSPACE"] == os.getcwd(), "not run in the workspace"
sys.exit(0 if note == "good" else 1)
"""


def config(tmp_path: Path, *gates: dict[str, Any]) -> dict[str, Any]:
    """A pool of one subprocess agent that writes its payload to note.txt in its workspace."""
    return {
        "orchestrator": {"hook_timeout": 0.05},
        "plugins": {"enabled": ["subprocess", "hooks"], "hooks": {"gates": list(gates)}},
        "pools": [
            {
                "name": "w",
                "runtime": "subprocess",
                "capabilities": ["write"],
                "options": {"shell": "echo {payload} > note.txt", "workspace": str(tmp_path)},
            }
        ],
    }


async def test_gates_run_in_the_workspace_and_score_the_attempt(
    script: Callable[[str], list[str]], tmp_path: Path
) -> None:
    lint = {"name": "lint", "command": script("raise SystemExit(1)"), "required": False}
    check = {"name": "check", "command": script(CHECK), "retry": False}
    rec = EventRecorder()
    async with orchestrator(config(tmp_path / "ws", check, lint), rec) as orch:
        good = await orch.submit(TaskSpec("write", "good", requires={"write"}))
        assert (await good.result(timeout=60)).ok
        bad = await orch.submit(TaskSpec("write", "bad", requires={"write"}, max_attempts=3))
        outcome = await bad.result(timeout=60)
    (passed,) = rec.of("hook.gates", task_id=good.id)
    assert (passed.data["score"], passed.data["passed"], passed.data["total"]) == (0.5, 1, 2)
    assert [(g["name"], g["ok"], g["required"]) for g in passed.data["gates"]] == [
        ("check", True, True),
        ("lint", False, False),
    ]
    assert (outcome.state, outcome.attempts) == (TaskState.FAILED, 1)  # retry = false
    assert outcome.error == "quality gates failed (0/2 passed): check: exited with code 1"
    (failed,) = rec.of("hook.gates", task_id=bad.id)
    assert failed.data["score"] == 0.0


async def test_a_gate_that_may_retry_retries_the_task(
    script: Callable[[str], list[str]], tmp_path: Path
) -> None:
    check = {"name": "check", "command": script(CHECK)}
    rec = EventRecorder()
    async with orchestrator(config(tmp_path / "ws", check), rec) as orch:
        handle = await orch.submit(TaskSpec("write", "bad", requires={"write"}, max_attempts=2))
        outcome = await handle.result(timeout=60)
    assert (outcome.state, outcome.attempts) == (TaskState.DEAD, 2)
    assert len(rec.of("hook.gates", task_id=handle.id)) == 2


async def test_without_a_workspace_gates_run_where_the_orchestrator_runs(
    script: Callable[[str], list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local agent has no workspace; ``cwd`` is then relative to the orchestrator's."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ok").write_text("")
    monkeypatch.chdir(tmp_path)
    gate = {
        "name": "here",
        "command": script("import os, sys; sys.exit(0 if os.path.exists('ok') else 9)"),
        "cwd": "sub",
        "match": {"kind": "code"},
    }
    cfg = {"plugins": {"enabled": ["hooks"], "hooks": {"gates": [gate]}}}
    rec = EventRecorder()

    async def fail(task: Any) -> Any:
        raise PermanentFailure("no")

    async with orchestrator(cfg, rec) as orch:
        await orch.register(AgentSpec("a", {"x"}, options={"handler": "alveary.testing:echo"}))
        await orch.register(AgentSpec("f", {"f"}, options={"handler": fail}))
        code = await (await orch.submit(TaskSpec("code", requires={"x"}))).result()
        other = await orch.submit(TaskSpec("docs", requires={"x"}))
        assert (await other.result()).ok
        failing = await orch.submit(TaskSpec("code", requires={"f"}))
        assert (await failing.result()).state is TaskState.FAILED
    assert code.ok
    (gates,) = rec.of("hook.gates")  # not for "docs", not after a failed attempt
    assert gates.data["score"] == 1.0
