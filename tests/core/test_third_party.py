"""A third-party plugin, end to end: its own package with one entry point, built and installed
with the kernel into a fresh virtual environment, enabled and configured in ``alveary.toml``
only, never registered by hand.

Needs ``uv`` on PATH (CI installs it) and, the first time, PyPI for the build backend.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UV = shutil.which("uv")
CORE = Path(__file__).resolve().parents[2] / "core"

pytestmark = pytest.mark.skipif(
    UV is None, reason="uv is not on PATH: it builds the throwaway virtual environment"
)

PYPROJECT = """\
[project]
name = "alveary-audit-trail"
version = "0.3.0"
description = "Keeps a trail of the orchestrator's events."
requires-python = ">=3.10"
dependencies = ["alveary", "attrs"]

[project.entry-points."alveary.plugins"]
audit-trail = "alveary_audit_trail:AuditTrail"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""

PLUGIN = '''\
"""Keeps the types of the events it sees, under a prefix from its settings."""

from __future__ import annotations

import attrs
from alveary import hookimpl


class AuditTrail:
    requires = ("memory",)

    @attrs.frozen
    class Config:
        prefix: str = "audit"
        families: list[str] = attrs.field(factory=list)

    def __init__(self, config: AuditTrail.Config) -> None:
        self.config = config
        self.seen: list[str] = []
        self.plugins_at_startup: list[str] = []

    @hookimpl
    async def alveary_startup(self, orchestrator) -> None:
        self.plugins_at_startup = list(orchestrator.plugins)

    @hookimpl
    def alveary_event(self, event) -> None:
        families = self.config.families
        if not families or event.type.split(".")[0] in families:
            self.seen.append(f"{self.config.prefix}:{event.type}")
'''

CONFIG = """\
[plugins]
enabled = ["audit-trail"]

[plugins.audit-trail]
prefix = "trail"
families = ["task"]
"""

HANDLERS = """\
async def double(task):
    return task.payload * 2
"""

SCRIPT = """\
import asyncio
import json

from alveary import AgentSpec, Orchestrator, TaskSpec


async def main():
    orch = Orchestrator.from_file("alveary.toml")
    trail = orch.plugins["audit-trail"]
    async with orch:
        spec = AgentSpec("doubler", {"math"}, options={"handler": "handlers:double"})
        await orch.register(spec)
        handle = await orch.submit(TaskSpec("double", 21, requires={"math"}))
        outcome = await handle.result(30)
    print(json.dumps({
        "value": outcome.value,
        "plugins": list(orch.plugins),
        "at_startup": trail.plugins_at_startup,
        "seen": trail.seen,
        "module": type(trail).__module__,
    }))


asyncio.run(main())
"""


def _env(tmp: Path) -> dict[str, str]:
    """The environment without this test run's virtualenv; stevedore's cache kept aside."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["XDG_CACHE_HOME"] = str(tmp / "cache")
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A project directory with ``alveary.toml``, and the ``bin`` directory of a fresh venv
    holding the kernel and the plugin, installed from source."""
    assert UV is not None
    root = tmp_path_factory.mktemp("third-party")
    package = root / "alveary-audit-trail"
    (package / "src" / "alveary_audit_trail").mkdir(parents=True)
    (package / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (package / "src" / "alveary_audit_trail" / "__init__.py").write_text(PLUGIN, "utf-8")

    venv = root / "venv"
    uv_env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    _run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], root, uv_env)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    # --no-sources: install the kernel as a package, not as a member of this workspace.
    install = [UV, "pip", "install", "--quiet", "--no-sources", "--python", str(python)]
    _run([*install, "-e", str(CORE), str(package)], root, uv_env)

    work = root / "project"
    work.mkdir()
    (work / "alveary.toml").write_text(CONFIG, encoding="utf-8")
    (work / "handlers.py").write_text(HANDLERS, encoding="utf-8")
    (work / "scenario.py").write_text(SCRIPT, encoding="utf-8")
    return work, bin_dir


def test_an_installed_plugin_is_loaded_configured_and_called(project: tuple[Path, Path]) -> None:
    work, bin_dir = project
    done = _run([str(bin_dir / "python"), "scenario.py"], work, _env(work))
    report = json.loads(done.stdout)
    assert report["value"] == 42
    assert report["module"] == "alveary_audit_trail"
    assert report["plugins"] == ["local", "memory", "least-loaded", "audit-trail"]
    assert report["at_startup"] == report["plugins"]
    assert report["seen"] == [
        "trail:task.pending",
        "trail:task.assigned",
        "trail:task.running",
        "trail:task.succeeded",
    ]


def test_the_cli_lists_and_checks_the_installed_plugin(project: tuple[Path, Path]) -> None:
    work, bin_dir = project
    alveary = str(bin_dir / "alveary")
    rows = json.loads(_run([alveary, "plugins", "--json", "--hooks"], work, _env(work)).stdout)
    [row] = [r for r in rows if r["name"] == "audit-trail"]
    assert row == {
        "name": "audit-trail",
        "entry_point": "alveary_audit_trail:AuditTrail",
        "distribution": "alveary-audit-trail",
        "version": "0.3.0",
        "builtin": False,
        "enabled": True,
        "hooks": ["alveary_startup", "alveary_event"],
        "error": None,
    }
    assert {r["name"] for r in rows} == {"local", "memory", "least-loaded", "audit-trail"}
    done = _run([alveary, "check"], work, _env(work))
    assert done.stdout == (
        "alveary.toml: ok (4 plugins: local, memory, least-loaded, audit-trail; 0 pools)\n"
    )
