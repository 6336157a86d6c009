"""Workflows as data: the TOML file and the JSON body share one shape, the fields of
``Workflow`` and ``Step`` (``[[steps]]`` tables, ``fan_out = {over = "{a.value}", limit = 4}``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import alveary
import attrs
from cattrs.errors import BaseValidationError

from ._definition import Step, Workflow, WorkflowError


@attrs.frozen
class _Shape:
    """What ``parse`` reads before the workflow checks its steps as a whole."""

    name: str
    steps: list[Step]


def parse(data: Mapping[str, Any], source: alveary.Source | None = None) -> Workflow:
    """The workflow ``data`` describes; raises ``WorkflowError`` with one line per problem
    (``steps[2].timeout: expected a number > 0, got nan``), each starting with its file and
    line when ``source`` says where ``data`` was read."""
    if not isinstance(data, Mapping):
        raise WorkflowError(f"expected a table with name and steps, got a {type(data).__name__}")
    try:
        shape: _Shape = alveary.structure(data, _Shape)
    except BaseValidationError as error:
        raise WorkflowError(alveary.error_lines(error, source)) from None
    except (ValueError, TypeError) as error:
        raise WorkflowError(_located(str(error), data, source)) from None
    try:
        return Workflow(shape.name, shape.steps)
    except WorkflowError as error:
        raise WorkflowError([_located(line, data, source) for line in error.lines]) from None


def load(path: str | Path) -> Workflow:
    """The workflow in a TOML file; raises ``WorkflowError`` naming the file and the line."""
    try:
        data, source = alveary.read_toml(path)
    except alveary.ConfigError as error:
        raise WorkflowError(error.lines) from None
    return parse(data, source)


def _located(line: str, data: Mapping[str, Any], source: alveary.Source | None) -> str:
    """``line`` about the whole workflow, or about one step (``step 'b': ...``), after the
    file and line of that step's table."""
    if source is None:
        return line
    steps = data.get("steps")
    for i, step in enumerate(steps if isinstance(steps, list) else ()):
        name = step.get("name") if isinstance(step, Mapping) else None
        if isinstance(name, str) and line.startswith(f"step {name!r}: "):
            return f"{source.line(('steps', i))}: {line}"
    return f"{source.file}: {line}"


def dump(workflow: Workflow) -> dict[str, Any]:
    """``workflow`` as the data ``parse`` reads back (JSON-able)."""
    data: dict[str, Any] = alveary.unstructure(_Shape(workflow.name, list(workflow.steps)))
    for step in data["steps"]:
        step["on_failure"] = str(step["on_failure"].value)
    return data
