"""Commands that installed packages add to ``alveary``: top-level ones (``alveary demo``)
and ``alveary agents`` subcommands, each imported only when it runs."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.metadata costs more than the rest of ``alveary --version``
    from importlib.metadata import EntryPoint

EXTENSIONS = "alveary.cli"
"""Entry-point group of commands that installed packages add to ``alveary``:
``name = "module:function"``, where the function takes the arguments after the command's name
and returns the exit status. Its module is imported only when that command runs; a name that
a built-in command has is ignored. The first line of the function's docstring is its line in
``alveary --help`` (``help_line``)."""

KNOWN = {"demo": "alveary-demo"}
"""First-party commands by the distribution that adds them: when it is missing, the command
says what to install instead of being unknown."""

COMMANDS = "alveary.commands"
"""Entry-point group of ``alveary agents`` subcommands: ``name = "module:function"``, where
the function takes the remaining arguments and returns the exit status."""

BUILTIN = frozenset({"init", "run", "check", "plugins", "agents"})


def installed_commands() -> dict[str, EntryPoint | None]:
    """The commands installed packages add, by name, and the known ones whose package is
    missing (None)."""
    import importlib.metadata

    found: dict[str, EntryPoint | None] = {name: None for name in KNOWN}
    for ep in importlib.metadata.entry_points(group=EXTENSIONS):
        if ep.name not in BUILTIN and found.get(ep.name) is None:
            found[ep.name] = ep
    return dict(sorted(found.items()))


def only_version(argv: Sequence[str]) -> bool:
    """True when the line asks for the version before naming a command: then nothing needs
    the installed commands, and finding them costs more than the rest of ``--version``."""
    return _asks(argv, ("--version",))


def asks_for_help(argv: Sequence[str]) -> bool:
    """True when the line asks for ``alveary``'s own help, which lists every command."""
    return _asks(argv, ("-h", "--help"))


def _asks(argv: Sequence[str], options: tuple[str, ...]) -> bool:
    for arg in argv:
        if arg in options:
            return True
        if not arg.startswith("-"):
            return False
    return False


def run_extension(name: str, ep: EntryPoint | None, argv: Sequence[str]) -> int:
    """Run the command an installed package adds (or say which package to install)."""
    if ep is None:
        print(f"alveary {name}: not installed; pip install {KNOWN[name]}", file=sys.stderr)
        return 2
    return _load_and_run(f"alveary {name}", ep, argv)


def run_agents(action: str | None, argv: Sequence[str]) -> int:
    """``alveary agents ACTION ...``: run the subcommand, or list them."""
    import importlib.metadata

    found = {ep.name: ep for ep in importlib.metadata.entry_points(group=COMMANDS)}
    if action is None or action not in found:
        if action is not None:
            print(f"alveary agents: unknown command {action!r}", file=sys.stderr)
        for name, ep in sorted(found.items()):
            dist = f" (from {ep.dist.name})" if ep.dist is not None else ""
            print(f"{name:12} {help_line(ep)}{dist}", file=sys.stderr if action else sys.stdout)
        if not found:
            print("no agent commands installed (alveary-subprocess, alveary-tmux add some)")
        return 0 if action is None else 2
    return _load_and_run(f"alveary agents {action}", found[action], argv)


def _load_and_run(label: str, ep: EntryPoint, argv: Sequence[str]) -> int:
    """Import an entry point's command and run it on ``argv``; a command that cannot be
    imported is one line and status 2."""
    try:
        command = ep.load()
    except Exception as exc:
        print(f"{label}: cannot load {ep.value}: {exc}", file=sys.stderr)
        return 2
    return int(command(list(argv)))


def help_line(ep: EntryPoint) -> str:
    """What an installed command does, in one line: the first line of its function's
    docstring, read from the source (importing every package's commands to ask them would
    make ``alveary --help`` take a second); else its package's summary."""
    import importlib.util
    from pathlib import Path

    module, _, name = ep.value.partition(":")
    top, *inner = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
        if spec is None:
            raise LookupError
        if spec.submodule_search_locations:
            base = Path(next(iter(spec.submodule_search_locations)), *inner)
            path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        elif not inner and spec.origin is not None:
            path = Path(spec.origin)
        else:
            raise LookupError
        line = _first_lines(str(path)).get(name.strip())
    except (LookupError, ImportError, OSError, SyntaxError, ValueError):
        line = None
    if line:
        return line
    metadata = ep.dist.metadata if ep.dist is not None else None
    summary = metadata["Summary"] if metadata is not None and "Summary" in metadata else None
    return summary or ep.value


@functools.cache
def _first_lines(path: str) -> dict[str, str]:
    """The first line of the docstring of each function the module at ``path`` defines (as
    a help line: lower case, no full stop); a module adds several commands, and is read once."""
    import ast

    found = {}
    with open(path, encoding="utf-8") as file:
        source = file.read()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                line = doc.splitlines()[0].rstrip(".")
                found[node.name] = line[:1].lower() + line[1:] if line[1:2].islower() else line
    return found
