"""What the demo runs: the files its agents work on, its embedded config and its task mix."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import alveary
from alveary import Priority, TaskSpec

AGENTS = "alveary_demo.agents"
"""The module holding the demo's handlers, as pool options name it."""

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".nox",
        ".tox",
        ".eggs",
        ".hypothesis",
        "node_modules",
        "__pycache__",
    }
)
"""Directories never walked, besides caches (``*cache*``) and ``*.egg-info``."""

MIN_FILES = 5
"""Fewer files than this under ``--path``: use the alveary package's own files instead."""

MAX_FILES = 400
MAX_BYTES = 4 * 1024 * 1024
"""Files bigger than this are skipped: the demo shows orchestration, not disk speed."""

FAIL = 0.25
"""Fraction of compress attempts that fail (an injected fault)."""

STALL = 0.1
"""Fraction of analyse attempts that get stuck until their timeout."""

SYNC_TIMEOUT = 30.0
"""Per-attempt timeout of hash and compress tasks: generous, they run in threads."""

KINDS = ("hash", "compress", "analyse")
"""The kinds local agents serve: always in the mix."""

COUNT = "count"
"""The kind a pool of ``wc`` processes serves, when the ``subprocess`` plugin can run it."""

TOOL = ("wc", "-l", "-w", "-c", "--", "{path}")
"""The count pool's command template: ``wc`` runs once per task, as a child process."""

TOOL_TIMEOUT = 10.0
"""The count pool's limit per run of ``wc``."""

_PRIORITIES = (
    Priority.MEDIUM,
    Priority.LOW,
    Priority.HIGH,
    Priority.MEDIUM,
    Priority.LOW,
    Priority.CRITICAL,
    Priority.MEDIUM,
    Priority.LOW,
)


def _skipped(name: str) -> bool:
    return name in SKIP_DIRS or "cache" in name.lower() or name.endswith(".egg-info")


def find_files(root: Path, exclude: Sequence[Path] = ()) -> list[Path]:
    """Regular files under ``root`` in a stable order, skipping VCS, virtualenv and cache
    directories, symlinks, files over ``MAX_BYTES`` and ``exclude``; at most ``MAX_FILES``."""
    skip = {p.resolve() for p in exclude}
    found: list[Path] = []
    for top, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skipped(d))
        for name in sorted(names):
            path = Path(top, name)
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                if path.stat().st_size > MAX_BYTES or path.resolve() in skip:
                    continue
            except OSError:
                continue
            found.append(path)
            if len(found) >= MAX_FILES:
                return found
    return found


def package_dir() -> Path:
    """The installed alveary package: the fallback when ``--path`` has too few files."""
    return Path(alveary.__file__).resolve().parent


def tool_missing() -> str | None:
    """Why the count pool is left out (the plugin is not installed, ``wc`` is not on PATH),
    or None when it can run. The kernel does not depend on the plugin: it is used if found."""
    plugins = importlib.metadata.entry_points(group="alveary.plugins")
    if "subprocess" not in plugins.names:
        return "the alveary-subprocess plugin is not installed"
    if shutil.which(TOOL[0]) is None:
        return f"`{TOOL[0]}` is not on PATH"
    return None


def kinds(tools: bool) -> tuple[str, ...]:
    """The task mix: the local kinds, and ``count`` when the count pool runs."""
    return (*KINDS, COUNT) if tools else KINDS


def store_missing() -> str | None:
    """Why the records stay in memory (alveary-state is not installed), or None."""
    plugins = importlib.metadata.entry_points(group="alveary.plugins")
    return None if "state" in plugins.names else "the alveary-state plugin is not installed"


def config(
    timeout: float, tool_logs: str | None = None, records: str | None = None
) -> dict[str, Any]:
    """The demo's config, shaped like ``alveary.toml``. ``timeout`` is the analysers'
    per-attempt timeout; retry backoff scales with it so short runs stay short. With
    ``tool_logs`` (where the ``subprocess`` plugin writes its agents' logs) the plugin is
    enabled and a pool runs ``wc`` on the files, once per ``count`` task. With ``records``
    (an SQLite file) the tasks are kept there by the ``state`` plugin's ``sqlite`` store."""
    pools = [
        _pool("hashers", "hash", f"{AGENTS}:sha256", size=2, capacity=4),
        _pool("compressors", "compress", f"{AGENTS}:compress", size=2, capacity=2),
        _pool("analysers", "analyse", f"{AGENTS}:analyse", size=2, capacity=2),
    ]
    data: dict[str, Any] = {
        "orchestrator": {
            "store": "memory",
            "strategy": "least-loaded",
            "tick_interval": 0.5,
            "retry_base": timeout / 4,
            "retry_max": timeout * 2,
            "shutdown_timeout": 5.0,
        },
        "pools": pools,
    }
    enabled: list[str] = []
    plugins: dict[str, Any] = {"enabled": enabled}
    if records is not None:
        data["orchestrator"]["store"] = "sqlite"
        enabled.append("state")
        plugins["state"] = {"path": records}
    if tool_logs is not None:
        enabled.append("subprocess")
        plugins["subprocess"] = {"log_dir": tool_logs}
        pools.append(_counters())
    return {"plugins": plugins, **data} if enabled else data


def _counters() -> dict[str, Any]:
    return {
        "name": "counters",
        "runtime": "subprocess",
        "size": {"min": 2, "max": 2},
        "capacity": 4,
        "capabilities": [COUNT],
        "options": {"template": list(TOOL), "timeout": TOOL_TIMEOUT},
    }


def _pool(name: str, capability: str, handler: str, *, size: int, capacity: int) -> dict[str, Any]:
    return {
        "name": name,
        "runtime": "local",
        "size": {"min": size, "max": size},
        "capacity": capacity,
        "capabilities": [capability],
        "options": {"handler": handler},
    }


def task_specs(
    files: Sequence[Path], count: int, timeout: float, mix: Sequence[str] = KINDS
) -> list[TaskSpec]:
    """``count`` tasks cycling through the kinds of ``mix`` and the files, with mixed
    priorities. Some compress tasks get a single attempt, so that injected faults leave a few
    ``dead``."""
    specs = []
    for i in range(count):
        kind, n = mix[i % len(mix)], i // len(mix)
        payload: dict[str, Any] = {"path": str(files[n % len(files)])}
        attempts, limit = 3, SYNC_TIMEOUT
        if kind == "compress":
            payload["fail"] = FAIL
            attempts = 1 if n % 4 == 0 else 3
        elif kind == "analyse":
            payload["stall"] = STALL
            attempts, limit = 2, timeout
        specs.append(
            TaskSpec(
                kind,
                payload,
                requires={kind},
                priority=_PRIORITIES[n % len(_PRIORITIES)],
                timeout=limit,
                max_attempts=attempts,
            )
        )
    return specs
