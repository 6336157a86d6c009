"""``[plugins.tmux]`` (the plugin's settings) and each tmux pool's ``options``."""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs
from alveary.validators import non_negative, positive
from alveary_subprocess import ProcessOptions

_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+-]*")


def _plain(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _PLAIN_PATH.fullmatch(value):
        raise ValueError(
            f"{attribute.name}: {value!r}: use letters, digits and _ . / + - only "
            "(it goes into tmux commands)"
        )


@attrs.frozen
class Config:
    """How the ``tmux`` runtime runs sessions. Times in seconds, sizes in bytes."""

    socket: str = attrs.field(default="alveary", validator=_plain)
    """The tmux server's socket: a name (``tmux -L alveary``) or, with a ``/``, a path
    (``tmux -S path``). One orchestrator owns a socket at a time."""
    tmux: str = "tmux"
    """The tmux program (3.0 or newer)."""
    log_dir: str = ".alveary/logs"
    """Where ``<agent name>.log`` files (the captured pane output) go."""
    log_max_bytes: int = attrs.field(default=10 * 2**20, validator=positive)
    """An agent's log rotates (to ``.log.1``) past this size."""
    run_dir: str = attrs.field(default="", validator=_plain)
    """Where the per-agent FIFOs go ("": a private temporary directory, removed at
    shutdown)."""
    width: int = attrs.field(default=200, validator=positive)
    """The size of each session's window, in characters..."""
    height: int = attrs.field(default=50, validator=positive)
    """... and lines."""
    poll_interval: float = attrs.field(default=0.5, validator=positive)
    """How often every pane is checked. tmux hooks report an exit or a killed session at
    once; the poll catches what they miss."""
    max_starting: int = attrs.field(default=0, validator=non_negative)
    """Agents starting at once (0: four per CPU)."""
    max_bad_lines: int = attrs.field(default=100, validator=positive)
    """Malformed protocol lines in a row after which an agent is failed and replaced."""
    cancel_grace: float = attrs.field(default=5.0, validator=positive)
    """How long an agent has to answer a ``cancel`` before it counts as hung."""


@attrs.frozen
class TmuxOptions(ProcessOptions):
    """A tmux pool's ``options``: those of every out-of-process agent
    (``alveary_subprocess.ProcessOptions``: ``command``, ``cwd``, ``workspace``,
    ``worktree``, ``env``, ``env_allow``, ``secrets``, timeouts) and the transport."""

    transport: Literal["stdio", "fifo"] = "stdio"
    """``stdio``: the command's standard input and output are the protocol FIFOs (any
    protocol agent works; the pane shows its standard error). ``fifo``: the command opens
    the FIFOs named by ``ALVEARY_IN`` and ``ALVEARY_OUT`` itself and keeps the terminal
    (``alveary.agent`` and the example shell agent do)."""

    def problems(self) -> list[str]:
        found = super().problems()
        if not self.command:
            found.append("command: required (the program the session runs)")
        return found
