"""Strict structuring of TOML data into attrs classes, with one readable message per mistake.

Agent options arrive as a plain table (``[[pools]] options = {...}``), so the runtime checks
them itself, as strictly as the kernel checks ``alveary.toml``: ``"3"`` is not an integer and
an unknown key is an error naming the closest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any, TypeVar

import attrs
import cattrs
from alveary import FieldError
from cattrs.errors import (
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

T = TypeVar("T")

_converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


def _strict(kind: type, name: str, accepts: tuple[type, ...]) -> None:
    def structure(value: Any, _: type) -> Any:
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accepts):
            raise TypeError(f"expected {name}, got {value!r}")
        return kind(value)

    _converter.register_structure_hook(kind, structure)


_strict(int, "an integer", (int,))
_strict(float, "a number", (int, float))
_strict(str, "a string", (str,))
_strict(bool, "true or false", (bool,))


def structure(data: Any, cls: type[T]) -> T:
    """Structure ``data`` into ``cls``; raise ``ValueError`` listing every problem, each as
    ``dotted.key: what was expected``, joined by ``"; "``."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a table, got {data!r}")
    try:
        return _converter.structure(data, cls)
    except Exception as exc:
        problems = [
            f"{'.'.join(map(str, path))}: {msg}" if path else msg for path, msg in _errors(exc)
        ]
        raise ValueError("; ".join(problems)) from None


def _errors(
    exc: BaseException, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            yield from _errors(sub, (*path, note.name if hasattr(note, "name") else note.index))
        for sub in without:
            yield from _errors(sub, path)
    elif isinstance(exc, ForbiddenExtraKeysError):
        known = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield (*path, key), f"unknown key{hint}"
    elif isinstance(exc, BaseValidationError):
        for sub in exc.exceptions:
            yield from _errors(sub, path)
    elif isinstance(exc, FieldError):
        yield (*path, exc.field), str(exc)
    elif isinstance(exc, KeyError):
        yield path, "required key is missing"
    else:
        yield path, str(exc)
