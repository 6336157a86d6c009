"""One agent's tmux session: what the runtime keeps for it, and the script its pane runs."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

from alveary_subprocess import Live

from ._config import TmuxOptions
from .server import SERVER_ENV, Fifo


class Session:
    """What the runtime keeps per session besides the shared ``Live`` record."""

    def __init__(self, live: Live, name: str, folder: Path) -> None:
        self.live = live
        self.name = name
        self.folder = folder
        self.fifos: list[Fifo] = []
        self.pid: int | None = None
        self.ending = False
        self.created = 0.0
        """When tmux created the session (``time.monotonic()``)."""
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()


def start_script(live: Live, paths: dict[str, Path]) -> str:
    """The pane's shell script: the agent's exact environment, its directory, its program.
    It deletes itself first thing, so secrets do not stay on disk."""
    options = live.options
    assert isinstance(options, TmuxOptions)
    lines = ["# written by alveary for one start of one agent", 'rm -f "$0"']
    hidden = [name for name in SERVER_ENV if name not in live.env]
    if hidden:
        lines.append(f"unset {' '.join(hidden)}")
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(live.env.items())]
    if live.workspace.path is not None:
        lines.append(f"cd {shlex.quote(str(live.workspace.path))} || exit 126")
    command = " ".join(shlex.quote(word) for word in options.argv())
    if options.transport == "stdio":
        command += f" <{shlex.quote(str(paths['in']))} >{shlex.quote(str(paths['out']))}"
    lines.append(f"exec {command}")
    return "\n".join(lines) + "\n"
