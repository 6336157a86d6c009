"""Fixtures for the tmux plugin's tests: a real tmux server on a socket of the test's own.

Every test here needs the tmux program; without it they are skipped with a message saying so
(CI installs tmux).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import alveary.testing
import pytest

REPO = Path(__file__).parents[3]
SHELL_AGENT = REPO / "examples" / "protocol-agent.sh"
LIBRARY_AGENT = REPO / "tests" / "plugins" / "subprocess" / "agents" / "library_agent.py"
FAULTY_AGENT = REPO / "tests" / "plugins" / "subprocess" / "agents" / "faulty_agent.py"

if shutil.which("tmux") is None:
    pytest.skip("tmux is not installed: the tmux runtime's tests need it", allow_module_level=True)


@pytest.fixture
def socket_name() -> Iterator[str]:
    """A tmux socket for this test alone; its server is killed afterwards whatever happens."""
    name = f"alveary-test-{os.getpid()}-{time.monotonic_ns()}"
    yield name
    folder = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
    for socket in (name, f"{name}-viewer"):
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
        (folder / socket).unlink(missing_ok=True)


@pytest.fixture
def tmux(socket_name: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a tmux command on the test's socket, as a person at a terminal would."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", socket_name, *args], capture_output=True, text=True, check=False
        )

    return run


@pytest.fixture
def config(tmp_path: Path, socket_name: str) -> Callable[..., dict[str, Any]]:
    """``config(pool, ..., tmux={...})``: the plugin enabled on the test's socket, logs and
    FIFOs under ``tmp_path``, a fast poll."""

    def build(*pools: dict[str, Any], **sections: Any) -> dict[str, Any]:
        settings = {
            "socket": socket_name,
            "log_dir": str(tmp_path / "logs"),
            "poll_interval": 0.1,
            **sections.pop("tmux", {}),
        }
        return {
            "plugins": {"enabled": ["tmux"], "tmux": settings},
            "pools": list(pools),
            **sections,
        }

    return build


@pytest.fixture
def pool() -> Callable[..., dict[str, Any]]:
    """``pool(name, capabilities, command, **options)``: a ``[[pools]]`` entry of the tmux
    runtime; ``command`` is "sh" (the example shell agent), "python" (an ``alveary.agent``
    agent, run by ``{python}``) or a list."""

    def build(name: str, capabilities: list[str], command: Any, **options: Any) -> dict[str, Any]:
        if command == "sh":
            command = ["sh", str(SHELL_AGENT)]
        elif command == "python":
            command = ["{python}", str(LIBRARY_AGENT)]  # the orchestrator's interpreter
        return {
            "name": name,
            "runtime": "tmux",
            "capabilities": capabilities,
            "options": {"command": command, **options},
        }

    return build


@pytest.fixture
def until() -> Callable[..., Any]:
    """``await until(lambda: ...)``: wait for a condition (a bound on waiting, not a timing
    assertion)."""
    return alveary.testing.until
