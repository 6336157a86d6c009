"""``alveary agents attach NAME``: the command this package adds through the
``alveary.commands`` entry-point group."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence

from alveary_subprocess.cli import CommandError, plugin_table

from .server import TmuxServer, session_name


def attach_command(argv: Sequence[str]) -> int:
    """Attach the terminal to an agent's tmux session (or print the command)."""
    parser = argparse.ArgumentParser(
        prog="alveary agents attach",
        description="Attach this terminal to the tmux session of agent NAME, to watch it "
        "or take over (detach with the tmux prefix, then d). The socket comes from "
        "[plugins.tmux] of the config.",
    )
    parser.add_argument("name", help="the agent's name (e.g. shells-2)")
    parser.add_argument("--config", metavar="FILE", help="config naming the tmux socket")
    parser.add_argument("--print", action="store_true", help="print the command, do not run it")
    parser.add_argument("-r", "--read-only", action="store_true", help="watch without typing")
    args = parser.parse_args(argv)
    try:
        table = plugin_table(args.config, "tmux")
    except CommandError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    server = TmuxServer(str(table.get("tmux", "tmux")), str(table.get("socket", "alveary")))
    session = session_name(args.name)
    command = server.attach_argv(session, read_only=args.read_only)
    probe = subprocess.run(
        server.argv("has-session", "-t", f"={session}"), capture_output=True, check=False
    )
    if probe.returncode != 0:
        listing = subprocess.run(
            server.argv("list-sessions", "-F", "#{session_name}"),
            capture_output=True,
            check=False,
            text=True,
        )
        names = listing.stdout.split() if listing.returncode == 0 else []
        print(
            f"{parser.prog}: no tmux session for agent {args.name!r} on socket {server.socket!r}"
            f" (sessions: {', '.join(names) or 'none'})",
            file=sys.stderr,
        )
        return 1
    if args.print:
        print(shlex.join(command))
        return 0
    os.execvp(command[0], command)
    return 0  # pragma: no cover - execvp does not return
