"""alveary-tmux: agents in tmux sessions that a person can attach to.

Each agent's program runs in its own session on the plugin's tmux server; the orchestrator
speaks the agent protocol with it over two FIFOs, never by reading the screen, and captures
the pane's output to the agent's log. ``alveary agents attach NAME`` opens the session.
"""

from __future__ import annotations

from ._config import Config, TmuxOptions
from ._plugin import Tmux
from ._runtime import TmuxRuntime
from .server import TmuxError, TmuxServer, session_name

__all__ = [
    "Config",
    "Tmux",
    "TmuxError",
    "TmuxOptions",
    "TmuxRuntime",
    "TmuxServer",
    "session_name",
]
