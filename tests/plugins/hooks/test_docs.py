"""Every code block of docs/plugins/hooks.md is checked here against the real plugin."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alveary import AgentSpec, Orchestrator, TaskSpec
from alveary.testing import EventRecorder, orchestrator, until
from alveary_hooks import Hooks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "hooks.md"
BLOCK = re.compile(r"(<!-- fragment[^\n]*-->\n)?```(\w+)\n(.*?)```", re.DOTALL)
BLOCKS = [(language, text) for fragment, language, text in BLOCK.findall(DOCS.read_text())]


def blocks(language: str) -> list[str]:
    return [text for found, text in BLOCKS if found == language]


def test_every_block_is_checked_here() -> None:
    assert {language for language, _ in BLOCKS} == {"toml", "json", "python", "text"}


def test_the_configurations_build_an_orchestrator() -> None:
    first, *more = blocks("toml")
    config = tomllib.loads(first)
    for text in more:
        config["plugins"]["hooks"]["commands"] += tomllib.loads(text)["plugins"]["hooks"][
            "commands"
        ]
    plugin = Orchestrator.from_config(config).plugins["hooks"]
    assert isinstance(plugin, Hooks)
    assert [c.name for c in plugin.config.commands] == ["page", "lock", "note"]
    assert [g.name for g in plugin.config.gates] == ["tests"]
    assert [w.name for w in plugin.config.webhooks] == ["ops.example.org"]


async def test_the_documents_shown_are_what_commands_get(
    recorder_cmd: tuple[list[str], Path],
    runs: Callable[[Path], list[dict[str, Any]]],
    script: Callable[[str], list[str]],
) -> None:
    document, gates = (json.loads(text) for text in blocks("json"))
    command, out = recorder_cmd
    gate = {"name": "lint", "command": script("raise SystemExit(1)"), "required": False}
    config = {
        "plugins": {
            "enabled": ["hooks"],
            "hooks": {
                "commands": [{"command": command, "on": ["task.succeeded"]}],
                "gates": [gate],
            },
        }
    }
    rec = EventRecorder()
    async with orchestrator(config, rec) as orch:
        await orch.register(AgentSpec("a1", {"x"}, options={"handler": "alveary.testing:echo"}))
        await (await orch.submit(TaskSpec("review", requires={"x"}))).result()
        await until(lambda: runs(out), timeout=30)
    (run,) = runs(out)
    real = json.loads(run["stdin"])
    assert real.keys() == document.keys()
    assert real["task"].keys() == document["task"].keys()
    assert real["agent"].keys() == document["agent"].keys()
    (event,) = rec.of("hook.gates")
    assert event.data.keys() == gates["data"].keys()
    assert event.data["gates"][0].keys() == gates["data"]["gates"][0].keys()


def test_the_error_lines_shown_are_what_check_says(tmp_path: Path) -> None:
    (text,) = blocks("text")
    path = tmp_path / "alveary.toml"
    path.write_text(
        '[plugins]\nenabled = ["hooks"]\n\n'
        '[[plugins.hooks.commands]]\ncommand = ["x"]\non = ["task.*"]\ntimeout = nan\n'
        '[[plugins.hooks.commands]]\ncommand = ["y"]\non = ["task.*"]\nmode = "sync"\n'
        '[[plugins.hooks.commands]]\ncommand = "notify-send $ALVEARY_TASK_ID"\non = ["task.*"]\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "alveary._cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    shown = [line.split(": ", 1)[1] for line in text.strip().splitlines()]
    said = [line.split(": ", 1)[1] for line in done.stderr.strip().splitlines()]
    assert said == shown


@pytest.mark.parametrize("code", blocks("python"))
def test_the_program_runs(code: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[('task.succeeded', 'review')]"
