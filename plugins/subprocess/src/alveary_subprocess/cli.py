"""``alveary agents detect`` and ``alveary agents logs``: commands this package adds through
the ``alveary.commands`` entry-point group (each is ``callable(argv) -> exit status``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import alveary

from ._structure import structure
from .logs import log_name
from .profiles import ToolProfile, detect, merged, pool_toml


class CommandError(Exception):
    """A problem the user fixes; printed as one line, exit status 2."""


def plugin_table(config: str | None, plugin: str) -> dict[str, Any]:
    """``[plugins.<plugin>]`` of the config (``--config``, else ``./alveary.toml``, else
    ``[tool.alveary]`` of ``./pyproject.toml``); empty when there is none."""
    if config is not None:
        data = _read(Path(config))
    elif Path("alveary.toml").is_file():
        data = _read(Path("alveary.toml"))
    elif Path("pyproject.toml").is_file():
        data = _read(Path("pyproject.toml")).get("tool", {}).get("alveary", {})
    else:
        data = {}
    table: Any = data.get("plugins", {}).get(plugin, {})
    if not isinstance(table, dict):
        raise CommandError(f"plugins.{plugin}: expected a table")
    return table


def _read(path: Path) -> dict[str, Any]:
    try:
        return alveary.read_toml(path)[0]
    except alveary.ConfigError as exc:
        raise CommandError(str(exc)) from None


def _tools(config: str | None) -> dict[str, ToolProfile]:
    table = plugin_table(config, "subprocess").get("tools", {})
    extra = {}
    for name, data in table.items():
        try:
            extra[name] = structure(data, ToolProfile)
        except ValueError as exc:
            raise CommandError(f"plugins.subprocess.tools.{name}: {exc}") from None
    return merged(extra)


def detect_command(argv: Sequence[str]) -> int:
    """Find known CLI tools on PATH and print pools for them."""
    parser = argparse.ArgumentParser(
        prog="alveary agents detect",
        description="Find known CLI tools (and those of [plugins.subprocess.tools]) on PATH, "
        "ask each for its version, and print [[pools]] tables ready to paste.",
    )
    parser.add_argument("--config", metavar="FILE", help="config with extra tool profiles")
    parser.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per --version call (default 10)"
    )
    args = parser.parse_args(argv)
    try:
        profiles = _tools(args.config)
    except CommandError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    results = detect(profiles, timeout=args.timeout)
    found = [r for r in results if r.found]
    if args.json:
        rows = [
            {
                "name": r.name,
                "found": r.found,
                "path": r.path,
                "version": r.version,
                "error": r.error,
                "capabilities": list(r.profile.capabilities),
                "skills": r.profile.skills,
            }
            for r in results
        ]
        print(json.dumps(rows, indent=2))
        return 0
    missing = [r.name for r in results if not r.found]
    print(f"# alveary agents detect: {len(found)} of {len(results)} known tools found on PATH")
    if missing:
        print(f"# not found: {', '.join(missing)}")
    if found:
        print('# add "subprocess" to [plugins] enabled\n')
        print(pool_toml(found), end="")
    return 0


def logs_command(argv: Sequence[str]) -> int:
    """Print the end of an agent's log."""
    parser = argparse.ArgumentParser(
        prog="alveary agents logs",
        description="Print the last lines of an agent's log (what its process printed, its "
        "protocol log lines and the runtime's notes).",
    )
    parser.add_argument("name", help="the agent's name (e.g. coders-3)")
    parser.add_argument("--config", metavar="FILE", help="config naming the log directory")
    parser.add_argument("-n", "--lines", type=int, default=50, help="lines to print (default 50)")
    parser.add_argument("--path", action="store_true", help="print the log file's path only")
    args = parser.parse_args(argv)
    try:
        candidates = [
            Path(str(plugin_table(args.config, plugin).get("log_dir", ".alveary/logs")))
            / log_name(args.name)
            for plugin in ("subprocess", "tmux")
        ]
    except CommandError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        there = sorted(
            {p.stem for c in candidates if c.parent.is_dir() for p in c.parent.glob("*.log")}
        )
        listed = f"; agents with a log: {', '.join(there)}" if there else ""
        print(
            f"{parser.prog}: no log for agent {args.name!r} (looked at {candidates[0]}{listed})",
            file=sys.stderr,
        )
        return 1
    if args.path:
        print(found)
        return 0
    lines = found.read_bytes().decode(errors="replace").splitlines()
    for line in lines[-args.lines :] if args.lines > 0 else lines:
        print(line)
    return 0
