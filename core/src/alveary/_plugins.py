"""Finding, checking, configuring and ordering plugins.

Plugins are entry points in the ``alveary.plugins`` group. Only the ones a config enables (and
the kernel's built-ins) are imported, through stevedore. Every problem is collected and reported
at once, one line each, naming the plugin and the cause.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
from stevedore import NamedExtensionManager
from stevedore.extension import Extension

from ._catalog import BUILTINS, GROUP, turned_on
from ._config import Config
from ._converter import iter_errors, structure
from .hookspecs import HOOK_NAMES, SPEC_ARGS, SYNC_ONLY


@attrs.frozen
class Loaded:
    """A plugin ready to register: its name, its instance and its class."""

    name: str
    instance: object
    cls: type[Any]


def load(config: Config, extra: Sequence[object], problems: list[str]) -> list[Loaded]:
    """Import, check, configure and order the plugins ``config`` enables, plus ``extra``
    plugin objects given directly (used by ``alveary.testing``). Append every problem to
    ``problems`` and return the plugins that are good, so the checks that follow still run."""
    source = config.source
    for name in config.disabled:
        if name not in BUILTINS:
            problems.append(
                source.error(
                    ("plugins", "disabled"),
                    f"{name!r} is not a built-in plugin (built-ins: {', '.join(BUILTINS)}); "
                    "to turn a plugin off, leave it out of 'enabled'",
                )
            )
    for i, name in enumerate(config.enabled):
        if name in config.enabled[:i]:
            problems.append(
                source.error(("plugins", "enabled"), f"plugin {name!r} is listed twice")
            )

    names = turned_on(config.enabled, config.disabled)
    classes = _import(names, config, problems)

    for name in config.plugin_settings:
        if name not in names:
            problems.append(
                source.error(
                    ("plugins", name),
                    f"settings for plugin {name!r}, which is not enabled "
                    "(add it to plugins.enabled)",
                )
            )

    order = _order(classes, problems)
    loaded: list[Loaded] = []
    for name in order:
        cls = classes[name]
        hooks = [f"plugin {name!r}: {p}" for p in check_hooks(cls)]
        problems.extend(hooks)
        instance = _construct(name, cls, config, problems)
        if instance is not None and not hooks:
            loaded.append(Loaded(name, instance, cls))
    taken = {p.name for p in loaded}
    for obj in extra:
        name = plugin_name(obj)
        if name in taken:
            problems.append(f"plugin {name!r} is given twice")
            continue
        taken.add(name)
        hooks = [f"plugin {name!r}: {p}" for p in check_hooks(obj)]
        problems.extend(hooks)
        if not hooks:
            loaded.append(Loaded(name, obj, type(obj)))
    return loaded


def plugin_name(obj: object) -> str:
    """The name a directly given plugin object registers under: its ``name`` attribute, else
    its class name."""
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) else type(obj).__name__


def _import(names: list[str], config: Config, problems: list[str]) -> dict[str, type[Any]]:
    missing: list[str] = []
    failures: list[str] = []
    failed: set[str] = set()

    def on_failure(_: Any, ep: importlib.metadata.EntryPoint, exc: BaseException) -> None:
        failed.add(ep.name)
        failures.append(
            f"plugin {ep.name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
        )

    def on_conflict(_: str, name: str, found: list[Extension[Any]]) -> Extension[Any]:
        values = ", ".join(e.entry_point.value for e in found)
        failures.append(f"plugin {name!r} is provided by several entry points: {values}")
        return found[0]

    manager: NamedExtensionManager[Any] = NamedExtensionManager(
        GROUP,
        names,
        name_order=True,
        on_load_failure_callback=on_failure,
        on_missing_entrypoints_callback=lambda names: missing.extend(names),
        conflict_resolver=on_conflict,
    )
    problems.extend(failures)
    missing = [name for name in missing if name not in failed]  # stevedore counts them too
    if missing:
        known = sorted({ep.name for ep in manager.list_entry_points()})
        for name in missing:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"installed: {', '.join(known)}"
            problems.append(
                config.source.error(("plugins", "enabled"), f"unknown plugin {name!r} ({hint})")
            )
    classes: dict[str, type[Any]] = {}
    for ext in manager.extensions:
        if not inspect.isclass(ext.plugin):
            problems.append(
                f"plugin {ext.name!r}: entry point {ext.entry_point.value} is not a class"
            )
            continue
        classes[ext.name] = ext.plugin
    return classes


def _order(classes: dict[str, type[Any]], problems: list[str]) -> list[str]:
    """Config order, moving each plugin after the plugins it requires."""
    requires = {name: tuple(getattr(cls, "requires", ())) for name, cls in classes.items()}
    for name, needs in requires.items():
        for need in needs:
            if need not in classes:
                problems.append(
                    f"plugin {name!r} requires plugin {need!r}, which is not enabled "
                    "(add it to plugins.enabled)"
                )
    placed: list[str] = []
    pending = [n for n in classes]
    while pending:
        ready = next(
            (n for n in pending if all(r in placed or r not in classes for r in requires[n])),
            None,
        )
        if ready is None:
            problems.append(f"plugin dependency cycle: {_cycle(pending, requires)}")
            return placed
        placed.append(ready)
        pending.remove(ready)
    return placed


def _cycle(pending: list[str], requires: dict[str, tuple[str, ...]]) -> str:
    path = [pending[0]]
    while True:
        step = next(r for r in requires[path[-1]] if r in pending)
        if step in path:
            loop = [*path[path.index(step) :], step]
            return " -> ".join(loop)
        path.append(step)


def check_hooks(plugin: object) -> Iterable[str]:
    """Problems with a plugin's hook implementations: unknown hooks, arguments the spec does
    not have, async impls of hot-path hooks, wrappers, and hook methods missing the marker."""
    for attr in dir(plugin):
        if not attr.startswith("alveary_"):
            continue
        fn = getattr(plugin, attr, None)
        if not callable(fn):
            continue
        opts = getattr(fn, "alveary_impl", None)
        if opts is None:
            if attr in SPEC_ARGS:
                yield f"{attr} is not marked @alveary.hookimpl, so it would never be called"
            continue
        if attr not in SPEC_ARGS:
            close = difflib.get_close_matches(attr, HOOK_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield f"implements {attr!r}, which is not an alveary hook{hint}"
            continue
        if opts.get("wrapper") or opts.get("hookwrapper"):
            yield f"{attr}: hook wrappers are not supported"
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        spec = SPEC_ARGS[attr]
        extra = [p.name for p in params if p.name not in spec]
        if extra:
            yield (
                f"{attr}({', '.join(p.name for p in params)}): "
                f"{', '.join(repr(e) for e in extra)} not in the spec's arguments "
                f"({', '.join(spec)})"
            )
        if attr in SYNC_ONLY and inspect.iscoroutinefunction(fn):
            yield f"{attr} must be a plain function, not async (it runs on the hot path)"


def _construct(name: str, cls: type[Any], config: Config, problems: list[str]) -> object | None:
    settings = config.plugin_settings.get(name)
    config_cls = getattr(cls, "Config", None)
    try:
        if config_cls is None:
            if settings:
                problems.append(
                    config.source.error(("plugins", name), f"plugin {name!r} takes no settings")
                )
                return None
            instance: object = cls()
            return instance
        try:
            plugin_config = structure(dict(settings or {}), config_cls)
        except Exception as exc:
            problems.extend(
                config.source.error(("plugins", name, *path), message)
                for path, message in iter_errors(exc)
            )
            return None
        configured: object = cls(plugin_config)
        return configured
    except Exception as exc:
        problems.append(f"plugin {name!r} failed to start: {type(exc).__name__}: {exc}")
        return None
