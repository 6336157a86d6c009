"""The ``alveary`` command.

Exit status: 0 success, 1 failure at run time, 2 bad usage or configuration. User errors
print one line each and never a traceback.

Starting the command is kept cheap: the kernel, structlog and ``importlib.metadata`` are
imported inside the commands that need them, so ``alveary --version`` pays for none of them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._commands import (
    COMMANDS,
    KNOWN,
    asks_for_help,
    help_line,
    installed_commands,
    only_version,
    run_agents,
    run_extension,
)
from ._errors import AlvearyError, ConfigError, PluginError, StoreError
from ._version import __version__

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured:
    a replaced stream (a test's capture, a daemon's redirect) must not break logging."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(fmt: str | None, level: str = "info") -> None:
    """Configure structlog once: readable on a terminal, JSON lines otherwise."""
    import logging
    from typing import TextIO, cast

    import structlog

    if fmt is None:
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _Stderr())),
        cache_logger_on_first_use=True,
    )


def _parser(
    extensions: Mapping[str, EntryPoint | None] | None = None, describe: bool = True
) -> argparse.ArgumentParser:
    """The parser of the built-in commands and of ``extensions`` (default: those installed);
    what each extension does is looked up only when ``describe``, for the help."""
    if extensions is None:
        extensions = installed_commands()
    parser = argparse.ArgumentParser(
        prog="alveary",
        description="Orchestrate agents: register, route, watch, scale and secure workers.",
    )
    parser.add_argument("--version", action="version", version=f"alveary {__version__}")
    parser.add_argument(
        "--log-format",
        choices=["console", "json"],
        help="log format (default: console on a terminal, json otherwise)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="lowest level logged (default: warning)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    init = commands.add_parser(
        "init",
        help="write a commented starter alveary.toml",
        description="Write a starter config for the plugins installed here and the CLI tools "
        "on PATH; refuse to replace an existing file unless --force.",
    )
    init.add_argument("path", nargs="?", metavar="PATH", help="file or directory (default: .)")
    init.add_argument("--force", action="store_true", help="replace an existing file")

    run = commands.add_parser(
        "run",
        help="run the configured orchestrator until interrupted",
        description="Start the orchestrator, its plugins and pools; stop "
        "gracefully on SIGINT or SIGTERM.",
    )
    run.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: ./alveary.toml, else [tool.alveary] in ./pyproject.toml)",
    )

    check = commands.add_parser(
        "check",
        help="validate a config and the plugins it enables",
        description="Exit 0 if the config and its plugins are good, "
        "2 with one line per problem otherwise.",
    )
    check.add_argument("--config", metavar="FILE", help="config file (default as for run)")
    check.add_argument(
        "--start",
        action="store_true",
        help="also start one agent of each pool, stop it, and report each pool",
    )

    plugins = commands.add_parser(
        "plugins",
        help="list installed plugins (and, with --hooks, the hooks they implement)",
        description="Every installed plugin: name, version, "
        "distribution, enabled or not, and the hooks it implements.",
    )
    plugins.add_argument("--config", metavar="FILE", help="config deciding what is enabled")
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plugins.add_argument(
        "--hooks",
        action="store_true",
        help="import each plugin to list its hooks (and show those that fail to import)",
    )

    agents = commands.add_parser(
        "agents",
        help="agent commands that installed packages add (detect, attach, logs, ...)",
        description="Run ACTION, a command an installed package registers in the "
        f"'{COMMANDS}' entry-point group; without ACTION, list them. "
        "'alveary agents ACTION --help' describes one.",
    )
    agents.add_argument("action", nargs="?", metavar="ACTION", help="the command to run")
    agents.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")

    for name, ep in extensions.items():
        summary: str | None = None
        if ep is None:
            summary = f"not installed: pip install {KNOWN[name]}"
        elif describe:
            summary = help_line(ep)
        # Everything after the name is the command's own: it parses its arguments itself.
        extension = commands.add_parser(name, help=summary, add_help=False, prefix_chars="\0")
        extension.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``alveary`` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    extensions = {} if only_version(argv) else installed_commands()
    args = _parser(extensions, asks_for_help(argv)).parse_args(argv)
    _importable(getattr(args, "config", None))
    if args.command != "plugins" or args.hooks:  # a plain listing logs nothing: no structlog
        configure_logging(args.log_format, args.log_level)
    if args.command in extensions:
        return run_extension(args.command, extensions[args.command], args.args)
    try:
        if args.command == "init":
            from ._init import init

            return init(args.path, force=args.force)
        if args.command == "check":
            return _check(args.config, start=args.start)
        if args.command == "plugins":
            return _plugins_cmd(args.config, args.json, args.hooks)
        if args.command == "run":
            from ._runcmd import run

            return run(args.config)
        if args.command == "agents":
            return run_agents(args.action, args.args)
    except (ConfigError, PluginError) as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except StoreError as exc:  # bad input too: a missing directory, a file that is not a store
        print(f"alveary: {exc}", file=sys.stderr)
        return 2
    except AlvearyError as exc:
        print(f"alveary: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2  # pragma: no cover - argparse rejects unknown commands


def _importable(config: str | None) -> None:
    """Let handlers named ``"module:function"`` in a config import from the working directory
    and from the config file's directory, as ``python script.py`` does for its own."""
    for folder in (os.getcwd(), os.path.dirname(os.path.abspath(config)) if config else None):
        if folder is not None and folder not in sys.path:
            sys.path.insert(0, folder)


def _check(path: str | None, *, start: bool = False) -> int:
    from . import _config
    from ._assemble import assemble
    from ._values import counted

    config = _config.load(path)
    parts = assemble(config)  # what an orchestrator checks, and the plugins' whole-config checks
    plugins = f"{counted(len(parts.plugins), 'plugin')}: {', '.join(parts.plugins)}"
    print(f"{config.source.file}: ok ({plugins}; {counted(len(config.pools), 'pool')})")
    if not start:
        return 0
    import asyncio

    from ._trial import start_each_pool

    reasons = asyncio.run(start_each_pool(config))
    for index, (pool, reason) in enumerate(zip(config.pools, reasons, strict=True)):
        if reason is None:
            print(f"pool {pool.name}: ok (an agent started and stopped)")
        else:
            line = config.source.error(("pools", index), f"could not start an agent: {reason}")
            print(line, file=sys.stderr)
    return 2 if any(reasons) else 0


def _plugins_cmd(path: str | None, as_json: bool, hooks: bool) -> int:
    import json

    from ._catalog import BUILTINS, describe, read_turned_on, turned_on

    enabled = read_turned_on(path)
    if enabled is None:  # the whole load says what is wrong
        from . import _config

        try:
            config = _config.load(path)
            enabled = turned_on(config.enabled, config.disabled)
        except ConfigError:
            if path is not None:
                raise
            enabled = list(BUILTINS)
    rows = describe(enabled, hooks=hooks)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "VERSION", "DISTRIBUTION", "ENABLED", *(("HOOKS",) if hooks else ()))
    table = [header] + [
        (
            r["name"],
            r["version"] or "-",
            r["distribution"] or "-",
            ("yes (built-in)" if r["builtin"] else "yes") if r["enabled"] else "no",
            *((_hooks_cell(r),) if hooks else ()),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        cells = [cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)]
        print("  ".join([*cells, *row[4:]]).rstrip())
    return 0


def _hooks_cell(row: dict[str, Any]) -> str:
    if row["error"]:
        return f"import failed: {row['error']}"
    return ", ".join(h.removeprefix("alveary_") for h in row["hooks"]) or "-"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
