"""Per-agent options: ``[[pools]] options = {...}`` (``AgentSpec.options``), checked strictly.

``ProcessOptions`` are what every out-of-process runtime needs (the ``tmux`` runtime reuses
them); ``SubprocessOptions`` add the one-shot mode. Times are in seconds, sizes in bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import attrs
from alveary.validators import non_negative, positive
from attrs.validators import optional

from ._structure import structure
from .template import PYTHON, RESERVED, TemplateError, argv_problems, fields, shell_problems

DEFAULT_ENV_ALLOW = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "TERM",
)
"""Variables of the orchestrator's environment an agent sees unless ``env_allow`` says
otherwise: enough to find programs and a home, nothing secret."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_names(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    for name in value:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"{attribute.name}: {name!r} is not a valid environment variable name")


@attrs.frozen
class Worktree:
    """A fresh git worktree per agent, on the agent's own branch."""

    repo: str
    """The repository to add worktrees to."""
    branch: str = "alveary/{agent}"
    """The agent's branch; ``{agent}`` is its name. An existing branch is checked out again,
    so an agent of the same name continues where the last one stopped."""
    base: str = "HEAD"
    """Where a new branch starts."""


@attrs.frozen
class Limits:
    """Resource limits applied to the agent's process (POSIX ``setrlimit``)."""

    cpu: int | None = attrs.field(default=None, validator=optional(positive))
    """CPU seconds; the process gets SIGXCPU, then SIGKILL."""
    memory: int | None = attrs.field(default=None, validator=optional(positive))
    """Bytes of address space; allocations beyond it fail."""
    files: int | None = attrs.field(default=None, validator=optional(positive))
    """Open file descriptors."""
    file_size: int | None = attrs.field(default=None, validator=optional(positive))
    """Bytes per file written."""


@attrs.frozen
class ProcessOptions:
    """What every out-of-process agent needs: a command, where and with what it runs, and
    how long to wait for it."""

    command: tuple[str, ...] = ()
    """A long-lived program speaking the agent protocol: ``["{python}", "agent.py"]``
    (``{python}`` is the orchestrator's own interpreter)."""
    cwd: str | None = None
    """Working directory (default: the orchestrator's). Ignored when ``workspace`` is set."""
    workspace: str | None = None
    """A directory under which each agent gets ``<workspace>/<agent name>`` as its working
    directory (created if missing)."""
    worktree: Worktree | None = None
    """Make the agent's workspace directory a git worktree on its own branch."""
    env: dict[str, str] = attrs.field(factory=dict, validator=_env_names)
    """Variables set for the agent (not for secrets: config files get shared)."""
    env_allow: tuple[str, ...] = attrs.field(default=DEFAULT_ENV_ALLOW, validator=_env_names)
    """Variables passed through from the orchestrator's environment; nothing else is."""
    secrets: tuple[str, ...] = attrs.field(default=(), validator=_env_names)
    """Variables passed through that must be set; their values are replaced by ``***`` in
    captured output, logs and errors."""
    start_timeout: float = attrs.field(default=10.0, validator=positive)
    """How long a protocol agent has to send ``hello``."""
    grace: float = attrs.field(default=5.0, validator=non_negative)
    """How long a process has to exit after ``shutdown`` or SIGTERM before the next step
    (SIGTERM, then SIGKILL of its whole process group)."""
    timeout: float | None = attrs.field(default=None, validator=optional(positive))
    """A limit per task on this agent, on top of the task's own timeout."""
    heartbeat: float | None = attrs.field(default=None, validator=optional(non_negative))
    """Seconds between a protocol agent's heartbeats (``ALVEARY_HEARTBEAT``; 0: none). By
    default the interval an enabled plugin publishes (``heartbeat_interval``, as the
    ``health`` plugin does) when the agent starts, else 5."""
    max_line: int = attrs.field(default=8 * 2**20, validator=positive)
    """The longest protocol line accepted; longer ones are reported and dropped."""

    def problems(self) -> list[str]:
        """What is wrong beyond types (``validate`` joins these)."""
        found = []
        if self.worktree is not None and self.workspace is None:
            found.append("worktree: needs workspace (the directory worktrees go under)")
        if self.command:
            found.extend(_executable("command", self.argv()[0], self.path()))
        return found

    def argv(self) -> list[str]:
        """``command`` with ``{python}`` replaced by the orchestrator's interpreter, so
        ``["{python}", "agent.py"]`` does not depend on the agent's ``PATH``."""
        return [part.replace(PYTHON, sys.executable) for part in self.command]

    def path(self) -> str | None:
        """The ``PATH`` the agent will see, to look its program up."""
        return self.env.get("PATH") or (
            os.environ.get("PATH") if "PATH" in self.env_allow else None
        )


@attrs.frozen
class SubprocessOptions(ProcessOptions):
    """Options of the ``subprocess`` runtime: ``command`` for a long-lived protocol agent, or
    ``template``/``shell`` for a tool run once per task."""

    template: tuple[str, ...] = ()
    """One-shot: the argument vector per task, ``["ruff", "check", "{path}"]``; no shell."""
    shell: str | None = None
    """One-shot: a command line for ``/bin/sh -c``. Each placeholder stands as a plain word
    (not in quotes) and reaches the shell as a quoted positional parameter, never as code."""
    stdin: str | None = None
    """One-shot: a template for what the tool reads on standard input (default: nothing)."""
    ok_exit: tuple[int, ...] = (0,)
    """One-shot: exit statuses that mean success (``ruff check`` exits 1 when it finds
    problems: ``[0, 1]``)."""
    output: Literal["text", "json"] = "text"
    """One-shot: ``json`` parses standard output; a tool printing something else fails."""
    max_output: int = attrs.field(default=2**20, validator=positive)
    """One-shot: bytes of standard output (and of standard error) kept; a tool writing more
    is killed and the attempt fails."""
    limits: Limits = attrs.field(factory=Limits)
    """Resource limits for the process (both modes)."""

    @property
    def one_shot(self) -> bool:
        return bool(self.template) or self.shell is not None

    def problems(self) -> list[str]:
        found = super().problems()
        modes = [k for k in ("command", "template", "shell") if getattr(self, k)]
        if len(modes) != 1:
            found.append(
                "set exactly one of command (a protocol agent), template or shell (a tool run "
                f"per task); got {', '.join(modes) or 'none'}"
            )
        malformed = set()
        for key in ("template", "shell", "stdin"):
            value = getattr(self, key)
            for part in [value] if isinstance(value, str) else value or ():
                try:
                    fields(part)
                except TemplateError as exc:
                    found.append(f"{key}: {exc}")
                    malformed.add(key)
        if self.shell is not None and "shell" not in malformed:
            found.extend(f"shell: {problem}" for problem in shell_problems(self.shell))
        if "template" not in malformed:
            found.extend(f"template: {problem}" for problem in argv_problems(self.template))
        if self.template and not {"{", "}"} & set(self.template[0]):
            found.extend(_executable("template", self.template[0], self.path()))
        if not self.one_shot:
            found.extend(
                f"{key}: only for one-shot tools (template or shell)"
                for key in ("stdin", "ok_exit", "output", "max_output")
                if getattr(self, key) != _DEFAULTS[key]
            )
        limited = any(getattr(self.limits, f.name) is not None for f in attrs.fields(Limits))
        if limited and sys.platform == "win32":
            found.append("limits: not supported on Windows")
        return found


_DEFAULTS = {f.name: f.default for f in attrs.fields(SubprocessOptions)}

OptionsT = TypeVar("OptionsT", bound=ProcessOptions)


def parse(options: Mapping[str, Any], cls: type[OptionsT]) -> OptionsT:
    """Structure and check ``options``; raise ``ValueError`` naming every problem."""
    parsed = structure(dict(options), cls)
    problems = parsed.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return parsed


def _executable(key: str, program: str, path: str | None) -> list[str]:
    if os.sep in program:
        ok = os.access(program, os.X_OK) or os.access(os.path.abspath(program), os.X_OK)
    else:
        ok = shutil.which(program, path=path) is not None
    return [] if ok else [f"{key}: {program!r} is not an executable on the agent's PATH"]


__all__ = [
    "DEFAULT_ENV_ALLOW",
    "RESERVED",
    "Limits",
    "ProcessOptions",
    "SubprocessOptions",
    "Worktree",
    "parse",
]
