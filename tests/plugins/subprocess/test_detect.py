"""``alveary agents detect`` and ``alveary agents logs``, through the real ``alveary``
command: tools found on PATH with their versions, pools ready to paste."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import alveary
import pytest
from alveary import TaskSpec, TaskState
from alveary.testing import orchestrator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ALVEARY = str(Path(sys.executable).parent / "alveary")


@pytest.fixture
def toolbox(tmp_path: Path) -> Path:
    """A directory on PATH with a custom tool that prints its version and works on prompts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "summarize"
    tool.write_text(
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "summarize 1.4.2"; exit 0; fi\n'
        'printf "summary of %s" "$2"\n'
    )
    tool.chmod(0o755)
    (tmp_path / "alveary.toml").write_text(
        "[plugins.subprocess.tools.summarize]\n"
        'template = ["summarize", "--text", "{prompt}"]\n'
        'capabilities = ["summary"]\n'
        "skills = { summary = 0.7 }\n"
    )
    return tmp_path


def alveary_cli(*args: str, cwd: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run([ALVEARY, *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_agents_lists_the_commands_packages_add(tmp_path) -> None:
    done = alveary_cli("agents", cwd=tmp_path, path=os.environ["PATH"])
    assert done.returncode == 0
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert {"detect", "logs"} <= set(names)
    unknown = alveary_cli("agents", "frobnicate", cwd=tmp_path, path=os.environ["PATH"])
    assert unknown.returncode == 2
    assert "unknown command 'frobnicate'" in unknown.stderr


def test_detect_finds_tools_with_their_versions(toolbox) -> None:
    path = os.pathsep.join([str(toolbox / "bin"), os.environ["PATH"]])
    done = alveary_cli("agents", "detect", "--json", cwd=toolbox, path=path)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["summarize"]["found"] is True
    assert rows["summarize"]["version"] == "summarize 1.4.2"
    assert rows["summarize"]["path"] == str(toolbox / "bin" / "summarize")
    assert {"claude", "gemini", "codex", "aider", "copilot", "cursor", "opencode"} <= set(rows)
    if shutil.which("ruff", path=path):
        assert rows["ruff"]["found"]
        assert rows["ruff"]["version"].startswith("ruff ")


async def test_detected_pools_paste_into_a_working_config(toolbox, tmp_path) -> None:
    path = os.pathsep.join([str(toolbox / "bin"), os.environ["PATH"]])
    done = alveary_cli("agents", "detect", cwd=toolbox, path=path)
    assert done.returncode == 0, done.stderr
    assert "# summarize 1.4.2" not in done.stdout  # the comment names the tool and version:
    assert "summarize: summarize 1.4.2 (" in done.stdout
    pools = tomllib.loads(done.stdout)["pools"]
    summarize = next(p for p in pools if p["name"] == "summarize")
    assert summarize["capabilities"] == ["summary", "tool:summarize"]
    assert summarize["skills"] == {"summary": 0.7}
    # Run it: the pasted pool is a working one-shot agent.
    summarize["options"]["env"] = {"PATH": path}
    config = {
        "plugins": {"enabled": ["subprocess"], "subprocess": {"log_dir": str(tmp_path / "l")}}
    }
    config["pools"] = [summarize]
    async with orchestrator(config) as orch:
        outcome = await (
            await orch.submit(TaskSpec("summary", {"prompt": "the README"}, requires={"summary"}))
        ).result(10)
    assert outcome.state is TaskState.SUCCEEDED
    assert outcome.value["stdout"] == "summary of the README"


def test_a_broken_tool_profile_is_one_line(tmp_path) -> None:
    (tmp_path / "alveary.toml").write_text("[plugins.subprocess.tools.x]\ntemplat = ['x']\n")
    done = alveary_cli("agents", "detect", cwd=tmp_path, path=os.environ["PATH"])
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "alveary agents detect: plugins.subprocess.tools.x: template: required key is missing; "
        "templat: unknown key (did you mean 'template'?)"
    )


def test_a_config_that_is_no_toml_file_is_one_line(tmp_path) -> None:
    path = os.environ["PATH"]
    (tmp_path / "deep.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    for config, says in (
        ("deep.toml", "deep.toml: nested more than 32 levels deep"),
        ("/dev/zero", "/dev/zero: not a regular file (a FIFO, a device, a socket?)"),
        ("missing.toml", "missing.toml: no such file"),
    ):
        done = alveary_cli("agents", "detect", "--config", config, cwd=tmp_path, path=path)
        assert (done.returncode, done.stderr) == (2, f"alveary agents detect: {says}\n")


async def test_logs_prints_the_end_of_an_agent_log(tmp_path, config, pool) -> None:
    cfg = config(pool("noisy", ["n"], shell="echo to stderr >&2"))
    async with orchestrator(cfg) as orch:
        await (await orch.submit(TaskSpec("n", None, requires={"n"}))).result(10)
    (tmp_path / "alveary.toml").write_text(
        f'[plugins.subprocess]\nlog_dir = "{tmp_path / "logs"}"\n'
    )
    done = alveary_cli(
        "agents", "logs", "noisy-1", "-n", "3", cwd=tmp_path, path=os.environ["PATH"]
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    assert "to stderr" in done.stdout
    assert lines[-1].endswith("[alveary] stopped")
    missing = alveary_cli("agents", "logs", "ghost", cwd=tmp_path, path=os.environ["PATH"])
    assert missing.returncode == 1
    assert missing.stderr == (
        f"alveary agents logs: no log for agent 'ghost' (looked at {tmp_path / 'logs'}"
        f"{os.sep}ghost.log; agents with a log: noisy-1)\n"
    )


def test_alveary_check_reports_bad_options_against_the_line(tmp_path) -> None:
    (tmp_path / "alveary.toml").write_text(
        '[plugins]\nenabled = ["subprocess"]\n\n'
        "[[pools]]\n"
        'name = "lint"\n'
        'runtime = "subprocess"\n'
        'options = { template = ["ruff", "check", "{path"], timout = 3 }\n'
    )
    done = alveary_cli("check", "--config", "alveary.toml", cwd=tmp_path, path=os.environ["PATH"])
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "alveary.toml:7: pools[0].options: timout: unknown key (did you mean 'timeout'?)"
    )
    (tmp_path / "alveary.toml").write_text(
        '[plugins]\nenabled = ["subprocess"]\n\n'
        "[[pools]]\n"
        'name = "lint"\n'
        'runtime = "subprocess"\n'
        'options = { template = ["no-such-tool-here", "{path"], shell = "x" }\n'
    )
    done = alveary_cli("check", "--config", "alveary.toml", cwd=tmp_path, path=os.environ["PATH"])
    assert done.returncode == 2
    message = done.stderr.strip()
    assert message.startswith("alveary.toml:7: pools[0].options: set exactly one of command")
    assert "template: '{path': stray '{' at 0" in message
    assert "'no-such-tool-here' is not an executable on the agent's PATH" in message


def test_options_are_checked_when_the_orchestrator_is_built(config, pool) -> None:
    with pytest.raises(alveary.ConfigError, match=r"max_output: expected a number > 0"):
        alveary.Orchestrator.from_config(config(pool("x", [], template=["true"], max_output=0)))
    with pytest.raises(
        alveary.ConfigError, match=r"options: limits\.cpu: expected a number > 0, got 0"
    ):
        alveary.Orchestrator.from_config(config(pool("x", [], command=["true"], limits={"cpu": 0})))
    with pytest.raises(alveary.ConfigError, match=r"stdin: only for one-shot tools"):
        alveary.Orchestrator.from_config(config(pool("x", [], command=["true"], stdin="{x}")))


def test_check_start_starts_one_agent_per_pool_and_reports_each(tmp_path) -> None:
    agent = Path(__file__).parent / "agents" / "library_agent.py"
    (tmp_path / "alveary.toml").write_text(
        '[plugins]\nenabled = ["subprocess"]\n\n'
        "[[pools]]\n"
        'name = "good"\n'
        'runtime = "subprocess"\n'
        "size = { min = 3 }\n"
        'capabilities = ["echo"]\n'
        f'options = {{ command = ["{{python}}", {json.dumps(str(agent))}] }}\n\n'
        "[[pools]]\n"
        'name = "missing"\n'
        'runtime = "subprocess"\n'
        'options = { command = ["{python}", "no-such-agent.py"] }\n\n'
        "[[pools]]\n"
        'name = "tool"\n'
        'runtime = "subprocess"\n'
        'options = { template = ["{tool}"] }\n'
    )
    path = os.environ["PATH"]
    plain = alveary_cli("check", "--config", "alveary.toml", cwd=tmp_path, path=path)
    started = alveary_cli("check", "--start", "--config", "alveary.toml", cwd=tmp_path, path=path)
    assert plain.returncode == 0, plain.stderr
    assert started.returncode == 2
    assert started.stdout.splitlines()[1:] == [
        "pool good: ok (an agent started and stopped)",
        "pool tool: ok (an agent started and stopped)",
    ]
    [line] = started.stderr.splitlines()
    assert line.startswith(
        "alveary.toml:11: pools[1]: could not start an agent: the process exited with code 2 "
        "before its hello; last output: "
    )
    assert "no-such-agent.py" in line
    log = (tmp_path / ".alveary" / "logs" / "good-check.log").read_text()
    assert "stopped" in log
    assert not (tmp_path / ".alveary" / "logs" / "good-1.log").exists()
