"""Which events reach which hook: event types with wildcards, then a match on fields.

``alveary_event`` sees every event, so the test by type is a dictionary look-up cached per
event type; fields are looked at only for the types that passed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

MISSING: Any = object()
_GLOB = re.compile(r"[*?\[]")


class Types:
    """Event types from ``on``: exact names, and patterns where ``*`` matches anything."""

    __slots__ = ("_exact", "_pattern")

    def __init__(self, patterns: Iterable[str]) -> None:
        patterns = list(patterns)
        self._exact = frozenset(p for p in patterns if not _GLOB.search(p))
        globs = [fnmatch.translate(p) for p in patterns if _GLOB.search(p)]
        self._pattern = re.compile("|".join(globs)) if globs else None

    def __contains__(self, event_type: str) -> bool:
        if event_type in self._exact:
            return True
        return self._pattern is not None and self._pattern.match(event_type) is not None


class Fields:
    """``match``: each key's value must equal one of the wanted values (a string with ``*``
    is a pattern). A dotted key is a path in the event document; a bare key is looked up at
    its top, then in ``data``, ``task`` and ``agent``."""

    __slots__ = ("_tests",)

    def __init__(self, match: Mapping[str, Any]) -> None:
        self._tests = [
            (key.split("."), _wanted(wanted if isinstance(wanted, list) else [wanted]))
            for key, wanted in match.items()
        ]

    def __bool__(self) -> bool:
        return bool(self._tests)

    def __call__(self, document: dict[str, Any]) -> bool:
        for path, accepts in self._tests:
            value = lookup(document, path)
            if value is MISSING or not accepts(value):
                return False
        return True


def _wanted(options: Sequence[Any]) -> Callable[[Any], bool]:
    exact = [o for o in options if not (isinstance(o, str) and _GLOB.search(o))]
    globs = [re.compile(fnmatch.translate(o)) for o in options if o not in exact]

    def accepts(value: Any) -> bool:
        if any(_same(value, o) for o in exact):
            return True
        return isinstance(value, str) and any(g.match(value) for g in globs)

    return accepts


def _same(value: Any, wanted: Any) -> bool:
    """Equal, except that ``true`` is not ``1``."""
    if isinstance(value, bool) or isinstance(wanted, bool):
        return value is wanted
    return bool(value == wanted)


def lookup(document: dict[str, Any], path: Sequence[str]) -> Any:
    """The value at ``path`` in the event document, or ``MISSING``. (Documents are plain
    dicts: ``isinstance`` against ``Mapping`` would cost more than the rest of the test.)"""
    if len(path) == 1:
        key = path[0]
        if key in document:
            return document[key]
        for name in ("data", "task", "agent"):
            section = document.get(name)
            if type(section) is dict and key in section:
                return section[key]
        return MISSING
    value: Any = document
    for step in path:
        if type(value) is not dict or step not in value:
            return MISSING
        value = value[step]
    return value


class Router(Generic[T]):
    """The hooks bound to each event type, worked out once per type."""

    __slots__ = ("_limit", "_sinks", "cache")

    def __init__(self, sinks: Sequence[tuple[Types, T]], limit: int = 4096) -> None:
        self._sinks = list(sinks)
        self.cache: dict[str, tuple[T, ...]] = {}
        """Event type -> its hooks, for the types seen so far: read it first on a hot path."""
        self._limit = limit

    def __bool__(self) -> bool:
        return bool(self._sinks)

    def get(self, event_type: str) -> tuple[T, ...]:
        found = self.cache.get(event_type)
        if found is None:
            found = tuple(sink for types, sink in self._sinks if event_type in types)
            if len(self.cache) < self._limit:  # plugins may invent many types: stay bounded
                self.cache[event_type] = found
        return found
