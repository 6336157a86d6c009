"""The installed plugins, as their entry points say, without importing them: what
``alveary plugins`` lists and what loading starts from."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from typing import Any

GROUP = "alveary.plugins"

BUILTINS = ("local", "memory", "least-loaded")
"""The kernel's own plugins: always on unless listed in ``[plugins] disabled``."""


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
