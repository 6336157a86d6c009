"""Every command the installed packages add answers ``--help`` with a sentence that says
what it does: the first thing a new user reads."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

import pytest
from alveary._commands import BUILTIN, COMMANDS, installed_commands

LINES = sorted(
    [[name] for name in (*BUILTIN, *installed_commands())]
    + [["agents", ep.name] for ep in importlib.metadata.entry_points(group=COMMANDS)]
)


def test_the_packages_of_this_repository_add_their_commands() -> None:
    assert {("submit",), ("workflow",), ("keys",), ("demo",), ("agents", "detect")} <= {
        tuple(line) for line in LINES
    }


@pytest.mark.parametrize("line", LINES, ids=" ".join)
def test_help_describes_the_command_in_a_whole_sentence(line: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alveary", *line, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    paragraphs = done.stdout.split("\n\n")
    assert paragraphs[0].startswith(f"usage: alveary {' '.join(line)}")
    description = " ".join(paragraphs[1].split())
    assert re.fullmatch(r"[A-Z].*[.)]", description), description
    assert "``" not in description, description
