"""Fixtures for the subprocess plugin's tests: real processes, a log directory per test.

Helpers are fixtures (``pool``, ``agent_cmd``, ``until``) because test modules cannot import
this file under ``--import-mode=importlib``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import alveary.testing
import pytest

AGENTS = Path(__file__).parent / "agents"
REPO = Path(__file__).parents[3]
SHELL_AGENT = REPO / "examples" / "protocol-agent.sh"
PYTHON = sys.executable


def _agent_cmd(script: str, *args: str) -> list[str]:
    return [PYTHON, str(AGENTS / script), *args]


def _pool(name: str, capabilities: list[str], size: int = 1, **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "runtime": "subprocess",
        "size": {"min": size, "max": size},
        "capabilities": capabilities,
        "options": options,
    }


@pytest.fixture
def agent_cmd() -> Callable[..., list[str]]:
    """``agent_cmd("faulty_agent.py", "hang")``: the command of a test agent in ``agents/``;
    ``agent_cmd("sh")`` is the shell agent of ``examples/``."""

    def build(script: str, *args: str) -> list[str]:
        return ["sh", str(SHELL_AGENT)] if script == "sh" else _agent_cmd(script, *args)

    return build


@pytest.fixture
def pool() -> Callable[..., dict[str, Any]]:
    """``pool(name, capabilities, size=1, **options)``: a ``[[pools]]`` entry of the
    subprocess runtime."""
    return _pool


@pytest.fixture
def config(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """Build a config enabling the plugin with logs under ``tmp_path``:
    ``config(pool(...), ..., subprocess={...}, orchestrator={...})``."""

    def build(*pools: dict[str, Any], **sections: Any) -> dict[str, Any]:
        settings = {"log_dir": str(tmp_path / "logs"), **sections.pop("subprocess", {})}
        return {
            "plugins": {"enabled": ["subprocess"], "subprocess": settings},
            "pools": list(pools),
            **sections,
        }

    return build


@pytest.fixture
def until() -> Callable[..., Any]:
    """``await until(lambda: ..., timeout=10)``: wait for a condition, fail the test if it
    does not hold in time (a bound on waiting, not a timing assertion)."""
    return alveary.testing.until
