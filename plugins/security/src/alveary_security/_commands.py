"""The dangerous-command guard: rules matched against every command a command line would run,
and the action its riskiest match calls for. Pure and synchronous: it reads no file, runs
nothing and resolves no symlink."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alveary import CommandVerdict, ConfigError, error_lines, structure

from ._config import Actions, Commands
from ._normalise import from_argv, from_text
from ._operands import Command, mask, path
from ._rules import BUILTIN, RANK, Rule, compile_pattern

_SAFE_WRITES = compile_pattern("/dev/{null,stdout,stderr,tty,fd/*,shm/**}")
_LOOSE = re.compile(r"['\"\\`]|\$\(|[()]")
_SHOWN = 120
"""Characters of a command shown in a reason, at most."""


class _Compiled:
    """A rule with its patterns compiled, and the checks it needs in order, cheapest first."""

    __slots__ = ("all_args", "args", "code_from", "flags", "programs", "rule", "writes")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.programs = _any(rule.programs)
        self.args = _any(rule.args)
        self.all_args = [compile_pattern(p) for p in rule.all_args]
        self.writes = _any(rule.writes)
        self.code_from = _any(rule.code_from)
        self.flags = [tuple(entry.split("|")) for entry in rule.flags]

    def matches(self, command: Command, workspace: str | None, writable: Sequence[str]) -> bool:
        rule = self.rule
        if (
            (rule.fork_bomb and not command.function)
            or (self.code_from is not None and not command.code_from)
            or ((self.writes is not None or rule.outside_workspace) and not command.writes)
        ):
            return False  # the cheap tests first: most commands write nothing, run no code
        if self.programs is not None and not self.programs.fullmatch(command.program):
            return False
        if rule.fork_bomb and not (
            command.function == command.program and (command.piped or command.background)
        ):
            return False
        if self.code_from is not None and not any(
            self.code_from.fullmatch(p) for p in command.code_from
        ):
            return False
        if self.writes is not None and not any(self.writes.fullmatch(w) for w in command.writes):
            return False
        if rule.outside_workspace and not (
            workspace and any(_outside(w, workspace, writable) for w in command.writes)
        ):
            return False
        if self.flags and not all(_flag(alts, command.options) for alts in self.flags):
            return False
        operands = command.operands
        if self.args is not None and not any(self.args.fullmatch(o) for o in operands):
            return False
        return all(any(p.fullmatch(o) for o in operands) for p in self.all_args)


def _any(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{compile_pattern(p).pattern})" for p in patterns), re.DOTALL)


def _flag(forms: tuple[str, ...], options: list[str]) -> bool:
    """One of ``forms`` is among ``options``: ``-r`` in a bundle (``-rf``), ``--long`` whole,
    with ``=value`` or abbreviated (``--rec``), anything else as the whole word."""
    for option in options:
        for form in forms:
            if option == form:
                return True
            if len(form) == 2 and option[1] != "-" and not option[1:].isdigit():
                if form[1] in option:
                    return True
            elif form.startswith("--") and option.startswith("--"):
                name = option.partition("=")[0]
                if name == form or (len(name) > 3 and form.startswith(name)):
                    return True
    return False


def _outside(written: str, workspace: str, writable: Sequence[str]) -> bool:
    """``written`` is a path known to be outside the workspace and the writable directories
    (a path with a variable in it, or relative to an unknown directory, is not judged)."""
    if written.startswith("~"):
        return True
    if not written.startswith("/") or "$" in written or _SAFE_WRITES.fullmatch(written):
        return False
    return not any(
        written == d or written.startswith(d.rstrip("/") + "/") for d in (workspace, *writable)
    )


class Guard:
    """Checks commands against the rules. Build it once (``from_config``); ``check`` is
    safe to call from any thread."""

    def __init__(
        self,
        rules: Iterable[Rule] = BUILTIN,
        actions: Actions | None = None,
        writable: Sequence[str] = (),
    ) -> None:
        self.rules = tuple(rules)
        self.actions = actions or Actions()
        self.writable = tuple(writable)
        compiled = [_Compiled(rule) for rule in self.rules]
        self._unparsable = [c.rule for c in compiled if c.rule.unparsable]
        self._by_program: dict[str, list[_Compiled]] = {}
        self._general: list[_Compiled] = []
        for c in compiled:
            literal = c.rule.programs and not any(set(p) & set("*?[{") for p in c.rule.programs)
            if literal and not c.rule.programs[0].startswith("re:"):
                for program in c.rule.programs:
                    self._by_program.setdefault(program, []).append(c)
            elif not c.rule.unparsable:
                self._general.append(c)

    @classmethod
    def from_config(cls, config: Commands | Mapping[str, Any] | None = None) -> Guard:
        """The guard for ``[plugins.security.commands]`` (a ``Commands`` or its raw table):
        the built-in rules minus ``disable``d ones, with ``rules`` added (a rule with a
        built-in's id replaces it). Raises ``alveary.ConfigError`` naming each mistake."""
        if config is None:
            config = Commands()
        elif not isinstance(config, Commands):
            try:
                config = structure(dict(config), Commands)
            except Exception as exc:  # cattrs groups every mistake in one exception
                raise ConfigError(error_lines(exc)) from None
        assert isinstance(config, Commands)
        own = {rule.id: rule for rule in config.rules}
        rules = [own.pop(r.id, r) for r in BUILTIN if r.id not in config.disable]
        return cls([*rules, *own.values()], config.actions, config.writable)

    def check(
        self, command: str | Sequence[str], *, workspace: str | None = None
    ) -> CommandVerdict:
        """The verdict on ``command``: a shell command line or script (``str``), or an
        argument vector run without a shell. ``workspace`` is the directory it runs in; with
        it, relative paths are resolved and writes outside it are a risk. Never raises."""
        if workspace is not None:
            workspace = _directory(workspace)
        try:
            if isinstance(command, str):
                commands = from_text(command, workspace)
            else:
                commands = from_argv([str(word) for word in command], workspace)
            unparsable: list[Rule] = []
        except Exception:
            text = command if isinstance(command, str) else " ".join(map(str, command))
            commands = self._loose(text, workspace)
            unparsable = self._unparsable
        found: dict[str, tuple[Rule, str]] = {r.id: (r, _short(command)) for r in unparsable}
        for cmd in commands:
            for c in self._by_program.get(cmd.program, ()):
                if c.rule.id not in found and c.matches(cmd, workspace, self.writable):
                    found[c.rule.id] = (c.rule, cmd.shown())
            for c in self._general:
                if c.rule.id not in found and c.matches(cmd, workspace, self.writable):
                    found[c.rule.id] = (c.rule, cmd.shown())
        if not found:
            return CommandVerdict("allow")
        ranked = sorted(found.values(), key=lambda item: -RANK[item[0].risk])
        top = ranked[0][0].risk
        reason = "; ".join(
            f"{rule.id} ({rule.risk}): {rule.description or rule.id}: {_clip(shown)}"
            for rule, shown in ranked
        )
        return CommandVerdict(
            getattr(self.actions, top), top, tuple(r.id for r, _ in ranked), reason
        )

    def _loose(self, text: str, workspace: str | None) -> list[Command]:
        """The commands of text that does not parse, read with its quotes and parentheses
        dropped: the rules then see what it would most plausibly run."""
        loose = _LOOSE.sub(" ", text)
        try:
            return from_text(loose, workspace)
        except Exception:
            try:
                return from_argv(loose.split(), workspace)
            except Exception:
                return []


@functools.lru_cache(maxsize=64)
def _directory(workspace: str) -> str:
    """The workspace as an absolute lexical path (a relative one is taken from the current
    directory)."""
    return path(os.path.abspath(workspace), None)


def _short(command: str | Sequence[str]) -> str:
    text = command if isinstance(command, str) else " ".join(map(str, command))
    return " ".join(mask(w) for w in text.split())


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
