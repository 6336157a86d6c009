"""``alveary agents ACTION``: subcommands that installed packages add through the
``alveary.commands`` entry-point group, found the way pip leaves them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alveary._cli import main

COMMANDS = """
def greet(argv):
    print("hello", *argv)
    return 3 if "--fail" in argv else 0
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution ``alveary-greeter`` registering ``greet`` and a broken ``oops``."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "alveary_test_greeter.py").write_text(COMMANDS)
    info = root / "alveary_greeter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: alveary-greeter\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[alveary.commands]\n"
        "greet = alveary_test_greeter:greet\n"
        "oops = alveary_test_greeter_missing:run\n"
    )
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    sys.modules.pop("alveary_test_greeter", None)


def test_agents_lists_installed_commands(installed, capsys) -> None:
    assert main(["agents"]) == 0
    out = capsys.readouterr().out
    assert "greet" in out
    assert "(from alveary-greeter)" in out


def test_agents_runs_a_command_with_its_arguments(installed, capsys) -> None:
    assert main(["agents", "greet", "world", "--loud"]) == 0
    assert capsys.readouterr().out == "hello world --loud\n"
    assert main(["agents", "greet", "--fail"]) == 3


def test_unknown_and_broken_commands_are_one_line(installed, capsys) -> None:
    assert main(["agents", "grete"]) == 2
    assert "unknown command 'grete'" in capsys.readouterr().err
    assert main(["agents", "oops"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alveary agents oops: cannot load alveary_test_greeter_missing:run")
