"""alveary-subprocess: CLI tools and programs as agents.

The ``subprocess`` runtime runs a long-lived program per agent that speaks the agent protocol
over its standard input and output (``options.command``), or runs a tool once per task from a
command template (``options.template`` / ``options.shell``). ``alveary agents detect`` finds
known CLI tools on PATH. The protocol's orchestrator end (``Connection``), the agent log, the
options, workspaces, the record of
left-over agents (``orphans``) and ``run_command`` are public for other out-of-process runtimes
(``alveary-tmux``).
"""

from __future__ import annotations

from ._config import Config
from ._oneshot import ToolFailed
from ._plugin import Subprocess, SupervisedPlugin
from ._runtime import SubprocessRuntime
from ._supervisor import Live, Supervisor
from .consensus import Consensus, consensus
from .logs import AgentLog
from .options import Limits, ProcessOptions, SubprocessOptions, Worktree
from .orphans import Orphans, process_record, stop_recorded
from .process import run_command
from .profiles import BUILTIN_TOOLS, ToolProfile, detect
from .protocol import AgentError, AgentLost, Connection, Hello, read_into

__all__ = [
    "BUILTIN_TOOLS",
    "AgentError",
    "AgentLog",
    "AgentLost",
    "Config",
    "Connection",
    "Consensus",
    "Hello",
    "Limits",
    "Live",
    "Orphans",
    "ProcessOptions",
    "Subprocess",
    "SubprocessOptions",
    "SubprocessRuntime",
    "SupervisedPlugin",
    "Supervisor",
    "ToolFailed",
    "ToolProfile",
    "Worktree",
    "consensus",
    "detect",
    "process_record",
    "read_into",
    "run_command",
    "stop_recorded",
]
