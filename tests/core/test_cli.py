"""The ``alveary`` command: exit status 0 on success and 2 with one line per problem on bad
input, never a traceback; ``run`` stops cleanly on SIGINT."""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import alveary
import pytest
from alveary._cli import _parser, main
from alveary._commands import BUILTIN

if TYPE_CHECKING:
    from conftest import Dists

GOOD = """\
[orchestrator]
tick_interval = 0.5

[[pools]]
name = "workers"
size = { min = 2, max = 4 }
options = { handler = "alveary.testing:echo" }
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``alveary *argv``, run in this process."""
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse exits for --help, --version and bad usage
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


def commands() -> list[str]:
    """The built-in commands (installed packages add theirs: see test_cli_extensions)."""
    [sub] = [a for a in _parser({})._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == BUILTIN
    return list(sub.choices)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(capsys, "--version") == (0, f"alveary {alveary.__version__}\n", "")


@pytest.mark.parametrize("command", commands())
def test_help_of_each_command(capsys: pytest.CaptureFixture[str], command: str) -> None:
    status, out, err = run_main(capsys, command, "--help")
    assert status == 0
    assert out.startswith(f"usage: alveary {command}")
    assert err == ""


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_main(capsys)
    assert status == 2
    assert "the following arguments are required: COMMAND" in err


# -- check -------------------------------------------------------------------------------------


def test_check_accepts_a_good_config(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(here / "alveary.toml", GOOD)
    assert run_main(capsys, "check") == (
        0,
        "alveary.toml: ok (3 plugins: local, memory, least-loaded; 1 pool)\n",
        "",
    )


def test_check_prints_every_config_error(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        here / "bad.toml",
        """\
        [orchestrator]
        tick_interval = "soon"
        strategy = 3
        """,
    )
    assert run_main(capsys, "check", "--config", "bad.toml") == (
        2,
        "",
        "bad.toml:3: orchestrator.strategy: expected a string, got 3\n"
        "bad.toml:2: orchestrator.tick_interval: expected a number, got 'soon'\n",
    )


def test_check_refuses_an_unknown_plugin(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(here / "alveary.toml", '[plugins]\nenabled = ["memroy"]\n')
    assert run_main(capsys, "check") == (
        2,
        "",
        "alveary.toml:2: plugins.enabled: unknown plugin 'memroy' (did you mean 'memory'?)\n",
    )


def test_check_catches_a_handler_that_cannot_be_imported(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(here / "alveary.toml", GOOD.replace("alveary.testing:echo", "nowhere:work"))
    status, _, err = run_main(capsys, "check")
    assert status == 2
    assert err == (
        "alveary.toml:7: pools[0].options: cannot import handler 'nowhere:work': "
        "No module named 'nowhere'\n"
    )


def test_check_without_a_config(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_main(capsys, "check")
    assert status == 2
    assert err.startswith("no configuration found: ")


def test_run_refuses_a_bad_config_before_starting(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(here / "alveary.toml", "[orchestrator]\nstore = 'cassandra'\n")
    assert run_main(capsys, "run") == (
        2,
        "",
        "alveary.toml:2: orchestrator.store: 'cassandra' is not one of memory\n",
    )


# -- plugins -----------------------------------------------------------------------------------


def test_plugins_json_lists_the_built_ins(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(capsys, "plugins", "--json", "--hooks")
    assert (status, err) == (0, "")
    rows = {row["name"]: row for row in json.loads(out)}
    expected = {
        "local": ["alveary_runtimes"],
        "memory": ["alveary_stores"],
        "least-loaded": ["alveary_strategies"],
    }
    for name, hooks in expected.items():
        row = rows[name]
        assert row["distribution"] == "alveary"
        assert row["version"] == alveary.__version__
        assert row["builtin"] is True
        assert row["enabled"] is True
        assert row["hooks"] == hooks
        assert row["error"] is None


def test_plugins_shows_installed_plugins_and_what_the_config_enables(
    here: Path, dists: Dists, capsys: pytest.CaptureFixture[str]
) -> None:
    dists.add(
        "alveary-audit",
        """
        from alveary import hookimpl

        class Plugin:
            @hookimpl
            def alveary_event(self, event):
                pass
        """,
        {"audit": "Plugin"},
        version="2.3.1",
    )
    dists.add("alveary-broken", "raise RuntimeError('no luck')\n", {"broken": "Plugin"})
    write(here / "alveary.toml", '[plugins]\nenabled = ["audit"]\n')
    status, out, _ = run_main(capsys, "plugins", "--json", "--hooks")
    assert status == 0
    rows = {row["name"]: row for row in json.loads(out)}
    audit: dict[str, Any] = rows["audit"]
    assert audit["distribution"] == "alveary-audit"
    assert audit["version"] == "2.3.1"
    assert (audit["enabled"], audit["builtin"], audit["hooks"]) == (True, False, ["alveary_event"])
    assert rows["broken"]["enabled"] is False
    assert rows["broken"]["error"] == "RuntimeError: no luck"

    status, out, _ = run_main(capsys, "plugins", "--hooks")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "DISTRIBUTION", "ENABLED", "HOOKS"]
    [audit_line] = [line for line in lines if line.startswith("audit ")]
    assert audit_line.split() == ["audit", "2.3.1", "alveary-audit", "yes", "event"]
    [broken_line] = [line for line in lines if line.startswith("broken ")]
    assert "import failed: RuntimeError: no luck" in broken_line

    status, out, _ = run_main(capsys, "plugins")  # without --hooks nothing is imported
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "DISTRIBUTION", "ENABLED"]
    [audit_line] = [line for line in lines if line.startswith("audit ")]
    assert audit_line.split() == ["audit", "2.3.1", "alveary-audit", "yes"]
    [broken_line] = [line for line in lines if line.startswith("broken ")]
    assert broken_line.split() == ["broken", "1.0", "alveary-broken", "no"]


# -- as a real process -------------------------------------------------------------------------


def command() -> list[str]:
    """The installed ``alveary`` script, else the module."""
    script = Path(sys.executable).with_name("alveary.exe" if os.name == "nt" else "alveary")
    return [str(script)] if script.exists() else [sys.executable, "-m", "alveary"]


def test_exit_codes_of_the_real_process(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.toml", "[orchestrator]\nretry_max = -1\n\n[[pools]]\nsize.min = 1\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "alveary", "check", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{bad}:2: orchestrator.retry_max: expected a number >= 0, got -1.0",
        f"{bad}:4: pools[0].name: required key is missing",
    ]
    assert "Traceback" not in done.stderr
    version = subprocess.run(
        [*command(), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (version.returncode, version.stdout) == (0, f"alveary {alveary.__version__}\n")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a process there")
def test_run_serves_until_sigint(tmp_path: Path) -> None:
    write(
        tmp_path / "alveary_test_handlers.py",
        """\
        import hashlib

        async def digest(task):
            return hashlib.sha256(str(task.payload).encode()).hexdigest()
        """,
    )
    config = write(
        tmp_path / "x.toml",
        """\
        [orchestrator]
        tick_interval = 0.1

        [[pools]]
        name = "hashers"
        size = { min = 2, max = 2 }
        capabilities = ["hash"]
        options = { handler = "alveary_test_handlers:digest" }
        """,
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen(
        [*command(), "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(60, proc.kill)  # a hung start fails the test, not the suite
    watchdog.start()
    try:
        seen: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("alveary: running"):
                break
        assert seen[-1] == "alveary: running with 2 agents in 1 pool; Ctrl-C to stop\n", seen
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(seen) + rest
    assert "alveary: stopping (draining agents)\n" in rest
    assert rest.splitlines()[-1].startswith("alveary: stopped; tasks: ")
    assert "Traceback" not in rest
    assert out == ""


def test_run_collects_the_young_generation_less_often() -> None:
    """``alveary run`` owns its process: its young generation is collected every 10,000
    allocations, not 700; the older generations keep their thresholds."""
    from alveary._runcmd import YOUNG_GC_THRESHOLD, collect_less

    saved = gc.get_threshold()
    try:
        collect_less()
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, *saved[1:])
    finally:
        gc.set_threshold(*saved)
