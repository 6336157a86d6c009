"""Workflows as data: the TOML file and the JSON body share one shape, the fields of
``Workflow`` and ``Step`` (``[[steps]]`` tables, ``fan_out = {over = "{a.value}", limit = 4}``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import alveary
import attrs
from cattrs.errors import BaseValidationError

from ._definition import Step, Workflow, WorkflowError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


@attrs.frozen
class _Shape:
    """What ``parse`` reads before the workflow checks its steps as a whole."""

    name: str
    steps: list[Step]


def parse(data: Mapping[str, Any]) -> Workflow:
    """The workflow ``data`` describes; raises ``WorkflowError`` with one line per problem
    (``steps[2].timeout: expected a number > 0, got nan``)."""
    if not isinstance(data, Mapping):
        raise WorkflowError(f"expected a table with name and steps, got a {type(data).__name__}")
    try:
        shape: _Shape = alveary.structure(data, _Shape)
    except BaseValidationError as error:
        raise WorkflowError(alveary.error_lines(error)) from None
    except (ValueError, TypeError) as error:
        raise WorkflowError(str(error)) from None
    return Workflow(shape.name, shape.steps)


def load(path: str | Path) -> Workflow:
    """The workflow in a TOML file; raises ``WorkflowError`` naming the file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise WorkflowError(f"{path}: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise WorkflowError(f"{path}: {error}") from None
    try:
        return parse(data)
    except WorkflowError as error:
        raise WorkflowError([f"{path}: {line}" for line in error.lines]) from None


def dump(workflow: Workflow) -> dict[str, Any]:
    """``workflow`` as the data ``parse`` reads back (JSON-able)."""
    data: dict[str, Any] = alveary.unstructure(_Shape(workflow.name, list(workflow.steps)))
    for step in data["steps"]:
        step["on_failure"] = str(step["on_failure"].value)
    return data
