"""The template works out of this repository: a copy, installed in a fresh virtual
environment with the kernel from this checkout, passes its tests with its own settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "contrib" / "plugin-template"
TESTS = Path(__file__).with_name("test_template.py")


def sh(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}},
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to make the environment")
def test_a_copy_passes_its_tests_in_a_fresh_environment(tmp_path: Path) -> None:
    copy = tmp_path / "alveary-plugin-template"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (copy / "tests").mkdir()
    shutil.copy(TESTS, copy / "tests")
    venv = tmp_path / "venv"
    sh("uv", "venv", "--quiet", "--python", sys.executable, venv, cwd=tmp_path)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    # The kernel comes from this checkout; the rest from uv's cache when it has them.
    install = ["uv", "pip", "install", "--quiet", "--python", python]
    sh(
        *install,
        "-e",
        REPO / "core",
        "-e",
        copy,
        "--group",
        copy / "pyproject.toml:test",
        cwd=tmp_path,
    )
    done = sh(python, "-m", "pytest", "-p", "no:cacheprovider", cwd=copy)
    assert " passed" in done.stdout
    assert "failed" not in done.stdout
