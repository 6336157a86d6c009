"""Command templates: a task's payload fills ``{field}`` placeholders of a command.

Without a shell each template element is one argument, whatever the value holds: spaces,
quotes, ``$(...)`` and semicolons reach the program verbatim. An element that is exactly
``{field}`` and whose value is a list becomes one argument per item. With a shell
(``options.shell``) no value is ever part of the command line: each placeholder becomes a
quoted positional parameter (``"${1}"``) and the values follow the script as ``/bin/sh``'s
arguments; a placeholder must stand as a plain word (``_shell.slots``). ``{{`` and ``}}`` are
literal braces, and ``${...}`` is left alone for the shell.

A value that begins an argument placed before any ``--`` must not look like an option
(``-v``): the tool would read it as one.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._shell import slots

_TOKEN = re.compile(r"\$\{[^{}]*\}|\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")
_WHOLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

RESERVED = ("payload", "task_id", "kind", "attempt", "agent", "workspace", "python")
"""Fields every template may use; they win over payload keys of the same name."""

PYTHON = "{python}"
"""In a template or a ``command``: the orchestrator's own interpreter (``sys.executable``)."""

_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"})

_FIX = {
    "single quotes": "write {x}, not '{x}' (values are quoted for you)",
    "double quotes": 'write {x}, not "{x}" (values are quoted for you)',
    "a backslash escape": "remove the backslash (values are quoted for you)",
    "backquotes": "use $(...), not backquotes",
    "$((...))": "pass it to a command (expr, awk) instead",
    "a comment": "remove it from the comment",
    "a here-document": 'feed it on standard input instead (stdin = "... {x} ...")',
}


class TemplateError(ValueError):
    """A template is malformed, or the task lacks a value it needs."""


def fields(template: str) -> list[str]:
    """The placeholder names in ``template``; raise ``TemplateError`` on a stray brace."""
    if "\x00" in template:
        raise TemplateError(f"{template!r}: a NUL byte, which no command can hold")
    names = []
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if match.group(1):
            names.append(match.group(1))
        elif token in ("{", "}"):
            raise TemplateError(
                f"{template!r}: stray {token!r} at {match.start()} "
                "(placeholders look like {name}; write {{ or }} for a brace)"
            )
    return names


def task_fields(
    payload: Any, *, task_id: str, kind: str, attempt: int, agent: str, workspace: str
) -> dict[str, Any]:
    """The values a task offers a template: its payload's keys (if it is a table) plus the
    reserved fields. ``{payload}`` is the payload itself: a string as is, anything else as
    JSON."""
    values: dict[str, Any] = dict(payload) if isinstance(payload, Mapping) else {}
    values.update(
        payload=payload if isinstance(payload, str) else _json(payload),
        task_id=task_id,
        kind=kind,
        attempt=attempt,
        agent=agent,
        workspace=workspace,
        python=sys.executable,
    )
    return values


def render_argv(template: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """The argument vector for ``template`` (no shell involved)."""
    argv: list[str] = []
    guarded = False
    for part in template:
        whole = _WHOLE.fullmatch(part)
        if whole is not None and isinstance(_lookup(values, whole.group(1)), list):
            words = [_scalar(whole.group(1), item) for item in _lookup(values, whole.group(1))]
        else:
            words = [render(part, values)]
        leading = _WHOLE.match(part)
        if leading is not None and not guarded:
            for word in words:
                _not_an_option(leading.group(1), word, argv[0] if argv else "the system")
        guarded = guarded or part == "--"
        argv.extend(words)
    return argv


def render_shell(template: str, values: Mapping[str, Any]) -> tuple[str, list[str]]:
    """A script for ``/bin/sh -c`` and the values it reads as its positional parameters:
    each placeholder becomes ``"${n}"`` (a list: one per item), so no value is ever read
    as shell code, whatever it holds."""
    args: list[str] = []
    places = iter(slots(template))

    def positional(name: str, value: Any) -> str:
        place = next(places)
        words = []
        for item in value if isinstance(value, list) else [value]:
            text = _scalar(name, item)
            if place.leads:
                _not_an_option(name, text, "the command")
            args.append(text)
            words.append(f'"${{{len(args)}}}"')
        return " ".join(words)

    return render(template, values, positional), args


def shell_problems(template: str) -> list[str]:
    """Why ``template`` (a ``shell`` template) is refused: a placeholder that is not a
    plain word of a command, with the fix."""
    return [
        f"{{{place.name}}} at {place.at} is inside {place.inside}: "
        + _FIX[place.inside].replace("{x}", f"{{{place.name}}}")
        for place in slots(template)
        if place.inside is not None
    ]


def argv_problems(template: Sequence[str]) -> list[str]:
    """Why ``template`` (an argument vector) is refused: a placeholder in the code of a
    shell's or Python's ``-c``, where a value would run as code."""
    program = os.path.basename(template[0]) if template else ""
    if program not in _SHELLS and not program.startswith("python") and program != PYTHON:
        return []
    for index, part in enumerate(template[1:-1], start=1):
        if not part.startswith("-") or part.startswith("--"):
            return []  # a script file, or a long option: no code given inline
        if "c" in part[1:]:
            names = fields(template[index + 1])
            if not names:
                return []
            return [
                f"{{{names[0]}}} is inside the code of {program} {part}, where a value runs "
                "as code: pass it as an argument after the code and read it there ($1 in a "
                "shell, sys.argv[1] in Python), or use shell"
            ]
    return []


def render(
    template: str,
    values: Mapping[str, Any],
    convert: Callable[[str, Any], str] | None = None,
) -> str:
    """``template`` with each ``{field}`` replaced by its value as text."""
    convert = convert or _scalar

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if match.group(1):
            return convert(match.group(1), _lookup(values, match.group(1)))
        if token in ("{{", "}}"):
            return token[0]
        if token.startswith("${"):
            return token
        raise TemplateError(f"{template!r}: stray {token!r} at {match.start()}")

    return _TOKEN.sub(replace, template)


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    if name not in values:
        known = ", ".join(sorted(k for k in values if k not in RESERVED)) or "none"
        raise TemplateError(
            f"the template needs {{{name}}}, which the task's payload does not have "
            f"(payload keys: {known})"
        )
    return values[name]


def _not_an_option(name: str, word: str, program: str) -> None:
    if word.startswith("-"):
        shown = word if len(word) <= 30 else word[:27] + "..."
        raise TemplateError(
            f"{{{name}}} is {shown!r}, which {program} would read as an option: in the "
            f'template, put "--" before {{{name}}} (or attach it: --flag={{{name}}})'
        )


def _scalar(name: str, value: Any) -> str:
    if value is None:
        raise TemplateError(f"{{{name}}} is null")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        text = _json(value)
    if "\x00" in text:
        raise TemplateError(f"{{{name}}} contains a NUL byte, which no argument can hold")
    return text


def _json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"the payload is not JSON: {exc}") from None
