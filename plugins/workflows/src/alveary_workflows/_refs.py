"""References from a step's payload to earlier results: ``"{plan.value.files}"``.

A reference is ``{root.path...}`` where ``root`` is a step name (or ``item``/``index`` inside
a fan-out) and each path segment is a key of a mapping or an index of a list. A string that is
exactly one reference becomes the referenced value with its type; references inside a longer
string are formatted in (strings as they are, anything else as JSON). ``{{name}}`` stands for
the literal text ``{name}``. Nothing is evaluated: a reference only looks values up.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_REF = re.compile(
    r"\{\{(" + _NAME + r"(?:\.[A-Za-z0-9_-]+)*)\}\}|\{(" + _NAME + r"(?:\.[A-Za-z0-9_-]+)*)\}"
)
ITEM = "item"
INDEX = "index"
RESULT_FIELDS = frozenset({"value", "state", "error", "task_ids"})
"""What a step's result offers a reference: ``{step.value}``, ``{step.state}``, ..."""


class RefError(LookupError):
    """A reference names something its result does not have (a missing key, an index out of
    range, a field of a number). The message is one line naming the reference."""


@attrs.frozen
class Ref:
    """One parsed reference: ``{root.path[0].path[1]...}``."""

    root: str
    path: tuple[str, ...]

    @property
    def text(self) -> str:
        return "{" + ".".join((self.root, *self.path)) + "}"

    def resolve(self, scope: Mapping[str, Any]) -> Any:
        """The value this reference names in ``scope`` (root name -> value)."""
        value = scope[self.root]
        for segment in self.path:
            value = _step(value, segment, self)
        return value


def _step(value: Any, segment: str, ref: Ref) -> Any:
    if isinstance(value, Mapping):
        if segment in value:
            return value[segment]
        raise RefError(f"{ref.text}: no key {segment!r} in {_shape(value)}")
    if isinstance(value, (list, tuple)):
        if segment.isdigit() and int(segment) < len(value):
            return value[int(segment)]
        raise RefError(f"{ref.text}: no index {segment!r} in a list of {len(value)}")
    raise RefError(f"{ref.text}: cannot take {segment!r} of {_shape(value)}")


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(sorted(map(str, value))[:5])
        return f"a mapping with keys [{keys}]" if value else "an empty mapping"
    return f"a {type(value).__name__}"


def refs(template: Any) -> Iterator[Ref]:
    """Every reference in a payload template (strings inside mappings and lists)."""
    if isinstance(template, str):
        for match in _REF.finditer(template):
            if match[2] is not None:
                root, *path = match[2].split(".")
                yield Ref(root, tuple(path))
    elif isinstance(template, Mapping):
        for value in template.values():
            yield from refs(value)
    elif isinstance(template, (list, tuple)):
        for value in template:
            yield from refs(value)


def render(template: Any, scope: Mapping[str, Any]) -> Any:
    """The payload ``template`` with its references replaced from ``scope``; raises
    ``RefError`` for a reference its value does not have."""
    if isinstance(template, str):
        return _render_text(template, scope)
    if isinstance(template, Mapping):
        return {key: render(value, scope) for key, value in template.items()}
    if isinstance(template, (list, tuple)):
        return [render(value, scope) for value in template]
    return template


def _render_text(text: str, scope: Mapping[str, Any]) -> Any:
    whole = _REF.fullmatch(text)
    if whole is not None and whole[2] is not None:
        return _ref(whole[2]).resolve(scope)
    if "{" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        if match[1] is not None:
            return "{" + match[1] + "}"
        value = _ref(match[2]).resolve(scope)
        return value if isinstance(value, str) else json.dumps(value)

    return _REF.sub(one, text)


def _ref(text: str) -> Ref:
    root, *path = text.split(".")
    return Ref(root, tuple(path))


def parse_ref(text: str) -> Ref:
    """A string that must be exactly one reference (a fan-out's ``over``); raises
    ``ValueError`` otherwise."""
    match = _REF.fullmatch(text)
    if match is None or match[2] is None:
        raise ValueError(f"expected one reference such as '{{plan.value}}', got {text!r}")
    return _ref(match[2])


def check_json(value: Any, where: str) -> None:
    """Refuse what a store could not keep as JSON: ``nan``, infinities, non-string keys,
    objects. Raises ``ValueError`` naming ``where``."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not a JSON number")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string")
            check_json(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_json(item, f"{where}[{i}]")
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        raise ValueError(f"{where}: a {type(value).__name__} is not JSON")
