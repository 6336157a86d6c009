"""The one cattrs converter: records to JSON-able data and back, and TOML into config classes.

It is strict where TOML and JSON are precise: an ``int`` field takes an integer, not ``"3"``
or ``2.5``; a ``float`` field a finite number, not ``nan``; a ``str`` field a string,
not ``7``; a table a table and a list a list, never a string. Errors are collected, not
raised one at a time, so ``error_lines`` can report every problem with its dotted path.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import attrs
import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_mapping,
    is_mutable_sequence,
    is_sequence,
    list_structure_factory,
    mapping_structure_factory,
)
from cattrs.errors import (
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from ._errors import FieldError as FieldError  # re-exported: alveary.FieldError
from ._states import AgentState, HealthStatus, Priority, TaskState, parse_priority
from ._values import finite, shown

if TYPE_CHECKING:  # _source imports this module
    from ._source import Source

Path = tuple["str | int", ...]

converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
"""The converter for every alveary record and config class; plugins use it for theirs."""


def _expect(kind: type, name: str, accepts: tuple[type, ...] | None = None) -> None:
    allowed = accepts or (kind,)

    def structure(value: Any, cls: type) -> Any:
        if cls is not kind and issubclass(cls, enum.Enum):  # TaskState is a str, HealthStatus
            return cls(value)  # an int: they dispatch here but are enums, by value
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {name}, got {shown(value)}")
        if not isinstance(value, allowed):
            raise TypeError(f"expected {name}, got {shown(value)}")
        if kind is float and isinstance(value, (int, float)) and not finite(value):
            raise ValueError(f"expected a finite number, got {shown(value)}")
        return kind(value)

    converter.register_structure_hook(kind, structure)


_expect(int, "an integer")
_expect(float, "a number", (int, float))
_expect(str, "a string")
_expect(bool, "true or false")
converter.register_structure_hook(Priority, lambda v, _: parse_priority(v))
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


def _is_list(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _shaped(
    want: str, accepts: Callable[[Any], bool], inner: Callable[[Any], Callable[[Any, Any], Any]]
) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """A hook factory that hands cattrs' own hook only values of the right shape, so a
    string given for a table or a list reads ``expected a table, got 'x'`` instead of
    Python's ``'str' object has no attribute 'keys'``, and a string is never taken for the
    list of its characters."""

    def factory(cls: Any) -> Callable[[Any, Any], Any]:
        hook = inner(cls)

        def structure(value: Any, cl: Any) -> Any:
            if not accepts(value):
                raise TypeError(f"expected {want}, got {shown(value)}")
            return hook(value, cl)

        return structure

    return factory


def _sequence_hook(cls: Any) -> Callable[[Any, Any], Any]:
    if is_mutable_sequence(cls):
        return list_structure_factory(cls, converter)
    return homogenous_tuple_structure_factory(cls, converter)


def _mapping_hook(cls: Any) -> Callable[[Any, Any], Any]:
    """cattrs' mapping hook without ``gen_structure_mapping``, which would register it for
    ``cls`` directly, in front of the shape check."""
    origin = typing.get_origin(cls) or cls
    into = dict if origin in (Mapping, MutableMapping) else origin
    return mapping_structure_factory(cls, converter, into, detailed_validation=True)


def _set_hook(cls: Any) -> Callable[[Any, Any], Any]:
    if set in (cls, typing.get_origin(cls)):
        return converter._structure_set
    return converter._structure_frozenset


converter.register_structure_hook_factory(
    attrs.has, _shaped("a table", _is_table, converter.gen_structure_attrs_fromdict)
)
converter.register_structure_hook_factory(is_mapping, _shaped("a table", _is_table, _mapping_hook))
converter.register_structure_hook_factory(is_sequence, _shaped("a list", _is_list, _sequence_hook))
converter.register_structure_hook_factory(_is_set, _shaped("a list", _is_list, _set_hook))


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
        yield (*path, exc.field), exc.message
    elif isinstance(exc, KeyError):
        yield path, "required key is missing"
    else:
        yield path, str(exc)


def error_lines(exc: BaseException, source: Source | None = None) -> list[str]:
    """A cattrs error from ``structure`` as ``dotted.key: what was expected`` lines, one per
    problem: for plugins that structure data of their own (agent options, profiles, files).
    With the data's ``source`` (``read_toml``), each line starts with its file and line."""
    if source is not None:
        return [source.error(path, message) for path, message in iter_errors(exc)]
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
    """``("pools", 0, "size", "min")`` -> ``pools[0].size.min``; a key that is not a bare
    TOML key is quoted as TOML quotes it (``labels."a b"``), so a line stays one line."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            key = step if _BARE.fullmatch(step) else json.dumps(step)
            out += f".{key}" if out else key
    return out


_BARE = re.compile(r"[A-Za-z0-9_-]+")
