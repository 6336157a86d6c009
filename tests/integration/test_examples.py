"""The examples run as documented: the quickstart script, and the config with its agents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alveary import Orchestrator, TaskSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ALVEARY = Path(sys.executable).with_name("alveary")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_quickstart_runs() -> None:
    done = run(sys.executable, "examples/quickstart.py")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "divide (6, 3): succeeded: 2.0 (attempts: 1)" in lines
    assert "divide (1, 4): succeeded: 0.25 (attempts: 1)" in lines
    assert "divide (1, 0): failed: PermanentFailure: division by zero (attempts: 1)" in lines
    assert "tasks by state: {'succeeded': 2, 'failed': 1}" in lines
    events = [line.split()[2] for line in lines if line.startswith("  event ")]
    assert events[0] == "orchestrator.started"
    assert events[-1] == "orchestrator.stopped"
    assert events.count("task.succeeded") == 2
    assert events.count("task.failed") == 1


def test_config_checks_with_handlers_next_to_it() -> None:
    """Handlers named "agents:review" import from the config file's folder, no PYTHONPATH."""
    done = run(str(ALVEARY), "check", "--config", "examples/alveary.toml")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "examples/alveary.toml: ok (4 plugins: local, memory, least-loaded, eventlog; 2 pools)\n"
    )


def test_config_with_a_handler_that_does_not_import_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "alveary.toml"
    bad.write_text(
        (EXAMPLES / "alveary.toml").read_text().replace("agents:review", "nowhere:review")
    )
    done = run(str(ALVEARY), "check", "--config", str(bad))
    assert done.returncode == 2
    line = done.stderr.splitlines()[0]
    assert line.startswith(f"{bad}:")
    assert line.endswith(
        "pools[0].options: cannot import handler 'nowhere:review': No module named 'nowhere'"
    )


async def test_config_pools_do_the_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.chdir(tmp_path)  # the eventlog plugin writes alveary-events.jsonl here
    source = "def f():\n    try:\n        pass\n    except:\n        pass\n"
    text = "The hive keeps the bees; the bees keep the hive.\nBees, bees, bees.\n"
    async with Orchestrator.from_file(EXAMPLES / "alveary.toml") as orch:
        assert {a.pool for a in orch.agents()} == {"reviewers", "summarizers"}
        assert len(orch.agents()) == 3
        reviewed = await orch.submit(TaskSpec("review", source, requires={"review"}))
        summary = await orch.submit(TaskSpec("summarize", text, requires={"summarize"}))
        broken = await orch.submit(TaskSpec("review", "def (", requires={"review"}))
        wrong = await orch.submit(TaskSpec("review", 42, requires={"review"}))
        outcomes = [await h.result(timeout=10) for h in (reviewed, summary, broken, wrong)]

    assert outcomes[0].value == [
        "line 1: function 'f' has no docstring",
        "line 4: bare 'except:' also catches KeyboardInterrupt",
    ]
    assert outcomes[1].value == {
        "lines": 2,
        "words": 13,
        "top": [("bees", 5), ("hive", 2), ("keeps", 1), ("keep", 1)],
    }
    assert outcomes[2].value == ["line 1: syntax error: invalid syntax"]
    assert outcomes[3].state.value == "failed"
    assert outcomes[3].attempts == 1
    assert outcomes[3].error == "PermanentFailure: expected Python source as a string, got int"
    logged = read_events(tmp_path / "alveary-events.jsonl")
    assert {e["type"].split(".")[0] for e in logged} == {"task", "agent"}
    assert sum(e["type"] == "task.succeeded" for e in logged) == 3
