"""The one cattrs converter: records to JSON-able data and back, and TOML into config classes.

It is strict where TOML and JSON are precise: an ``int`` field takes an integer, not ``"3"``
or ``2.5``; a ``str`` field takes a string, not ``7``. Errors are collected, not raised one at a
time, so ``error_lines`` can report every problem with its dotted path.
"""

from __future__ import annotations

import difflib
import enum
import typing
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.errors import (
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from ._records import AgentState, HealthStatus, Priority, TaskState, _priority

Path = tuple["str | int", ...]

converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
"""The converter for every alveary record and config class; plugins use it for theirs."""


def _expect(kind: type, name: str, accepts: tuple[type, ...] | None = None) -> None:
    allowed = accepts or (kind,)

    def structure(value: Any, cls: type) -> Any:
        if cls is not kind and issubclass(cls, enum.Enum):  # TaskState is a str, HealthStatus
            return cls(value)  # an int: they dispatch here but are enums, by value
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {name}, got {value!r}")
        if not isinstance(value, allowed):
            raise TypeError(f"expected {name}, got {value!r}")
        return kind(value)

    converter.register_structure_hook(kind, structure)


_expect(int, "an integer")
_expect(float, "a number", (int, float))
_expect(str, "a string")
_expect(bool, "true or false")
converter.register_structure_hook(Priority, lambda v, _: _priority(v))
converter.register_unstructure_hook(Priority, lambda p: p.name.lower())
for _state in (AgentState, TaskState, HealthStatus):
    converter.register_unstructure_hook(_state, lambda s: s.value)


def _unstructure_set(value: frozenset[Any] | set[Any]) -> list[Any]:
    """JSON has no sets: a set becomes a list, sorted when its items allow, to be stable."""
    items = [converter.unstructure(item) for item in value]
    try:
        return sorted(items)
    except TypeError:
        return items


def _is_set(t: Any) -> bool:
    return t in (frozenset, set) or typing.get_origin(t) in (frozenset, set)


converter.register_unstructure_hook_func(_is_set, _unstructure_set)


def _structure_set(value: Any, cls: Any) -> Any:
    """Refuse a string, which cattrs would turn into the set of its characters."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list, got {value!r}")
    if set in (cls, typing.get_origin(cls)):
        return converter._structure_set(value, cls)
    return converter._structure_frozenset(value, cls)


converter.register_structure_hook_func(_is_set, _structure_set)


class FieldError(ValueError):
    """Raise from a config class's attrs validator so the error line names the key
    (``plugins.x.flush_every``): cattrs alone cannot tell which field's validator raised."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def structure(data: Any, cls: type[Any]) -> Any:
    """Structure ``data`` into ``cls``; raises cattrs' grouped errors (see ``iter_errors``)."""
    return converter.structure(data, cls)


def unstructure(obj: Any) -> Any:
    """Turn a record into JSON-able data."""
    return converter.unstructure(obj)


def iter_errors(exc: BaseException, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Flatten a cattrs error into (dotted path, what was expected) pairs."""
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            step = note.name if hasattr(note, "name") else note.index
            yield from iter_errors(sub, (*path, step))
        for sub in without:
            yield from iter_errors(sub, path)
    elif isinstance(exc, ForbiddenExtraKeysError):
        known = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields):
            yield (*path, key), unknown_key(key, known)
    elif isinstance(exc, BaseValidationError):
        for sub in exc.exceptions:
            yield from iter_errors(sub, path)
    elif isinstance(exc, FieldError):
        yield (*path, exc.field), str(exc)
    elif isinstance(exc, KeyError):
        yield path, "required key is missing"
    else:
        yield path, str(exc)


def error_lines(exc: BaseException) -> list[str]:
    """A cattrs error from ``structure`` as ``dotted.key: what was expected`` lines, one per
    problem: for plugins that structure data of their own (agent options, profiles)."""
    return [f"{dotted(path)}: {message}" if path else message for path, message in iter_errors(exc)]


def unknown_key(key: str, known: list[str]) -> str:
    """The message for a key nobody reads, with the closest known key suggested."""
    message = "unknown key"
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    elif known:
        message += f" (expected one of {', '.join(known)})"
    return message


def dotted(path: Path) -> str:
    """``("pools", 0, "size", "min")`` -> ``pools[0].size.min``."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out
