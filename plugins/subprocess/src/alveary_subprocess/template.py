"""Command templates: a task's payload fills ``{field}`` placeholders of a command.

Without a shell each template element is one argument, whatever the value holds: spaces,
quotes, ``$(...)`` and semicolons reach the program verbatim. An element that is exactly
``{field}`` and whose value is a list becomes one argument per item. With a shell
(``options.shell``) every value is quoted with ``shlex.quote`` before ``/bin/sh`` sees it.
``{{`` and ``}}`` are literal braces, and ``${...}`` is left alone for the shell.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_TOKEN = re.compile(r"\$\{[^{}]*\}|\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")
_WHOLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

RESERVED = ("payload", "task_id", "kind", "attempt", "agent", "workspace")
"""Fields every template may use; they win over payload keys of the same name."""


class TemplateError(ValueError):
    """A template is malformed, or the task lacks a value it needs."""


def fields(template: str) -> list[str]:
    """The placeholder names in ``template``; raise ``TemplateError`` on a stray brace."""
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
    )
    return values


def render_argv(template: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """The argument vector for ``template`` (no shell involved)."""
    argv: list[str] = []
    for part in template:
        whole = _WHOLE.fullmatch(part)
        if whole is not None and isinstance(_lookup(values, whole.group(1)), list):
            argv.extend(_scalar(whole.group(1), item) for item in _lookup(values, whole.group(1)))
        else:
            argv.append(render(part, values))
    return argv


def render_shell(template: str, values: Mapping[str, Any]) -> str:
    """A command line for ``/bin/sh -c`` in which every value is one quoted word (a list:
    one quoted word per item)."""

    def quoted(name: str, value: Any) -> str:
        if isinstance(value, list):
            return " ".join(shlex.quote(_scalar(name, item)) for item in value)
        return shlex.quote(_scalar(name, value))

    return render(template, values, quoted)


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
