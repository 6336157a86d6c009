"""The installed plugins, as their entry points say, without importing them, and the ones a
configuration turns on: what ``alveary plugins`` lists and what loading starts from."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ._errors import ConfigError
from ._toml import find, parse

GROUP = "alveary.plugins"

BUILTINS = ("local", "memory", "least-loaded")
"""The kernel's own plugins: always on unless listed in ``[plugins] disabled``."""


def turned_on(enabled: Iterable[str], disabled: Collection[str]) -> list[str]:
    """The plugins a configuration's ``[plugins] enabled`` and ``disabled`` turn on, in call
    order before dependency ordering: the built-ins not disabled, then the enabled."""
    names = [b for b in BUILTINS if b not in disabled]
    names += [n for n in enabled if n not in names]
    return names


def read_turned_on(path: str | None) -> list[str] | None:
    """The plugins the configuration at ``path`` (else the one found here; the built-ins
    without one) turns on, read from its ``[plugins]`` table alone, so that a listing does
    not wait for the converter the whole configuration needs. None when that table cannot
    be read this way: loading the whole configuration then says why."""
    found = find(path)
    if found is None:
        return turned_on((), ())
    file, prefix = found
    try:
        data: Any = parse(file)[0]
    except ConfigError:
        return None
    for key in (*prefix, "plugins"):
        data = data.get(key, {}) if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping):
        return None
    lists = [data.get("enabled", []), data.get("disabled", [])]
    if not all(isinstance(v, list) and all(isinstance(n, str) for n in v) for v in lists):
        return None
    return turned_on(*lists)


def installed() -> dict[str, importlib.metadata.EntryPoint]:
    """Every installed plugin entry point by name (one distribution seen twice counts once)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def describe(enabled: Iterable[str], *, hooks: bool = False) -> list[dict[str, Any]]:
    """Every installed plugin, for ``alveary plugins``. Only with ``hooks`` is each imported
    to list the hooks it implements (or why it fails to import): imports cost time."""
    on = set(enabled)
    rows = []
    for name, ep in sorted(installed().items()):
        dist = ep.dist
        row: dict[str, Any] = {
            "name": name,
            "entry_point": ep.value,
            "distribution": dist.name if dist is not None else None,
            "version": dist.version if dist is not None else None,
            "builtin": name in BUILTINS,
            "enabled": name in on,
        }
        if hooks:
            row.update(_hooks_of(ep))
        rows.append(row)
    return rows


def _hooks_of(ep: importlib.metadata.EntryPoint) -> dict[str, Any]:
    from .hookspecs import HOOK_NAMES

    try:
        cls = ep.load()
    except Exception as exc:
        return {"hooks": [], "error": f"{type(exc).__name__}: {exc}"}
    implemented = [h for h in HOOK_NAMES if getattr(getattr(cls, h, None), "alveary_impl", None)]
    return {"hooks": implemented, "error": None}
