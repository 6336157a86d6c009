"""Building what an orchestrator runs on from a config: its plugins, their hooks and the
components the config selects, checked together so that every problem is reported at once,
sorted by line, by ``alveary check``, ``alveary run`` and ``Orchestrator(config)`` alike."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import attrs

from . import _plugins
from ._catalog import installed, turned_on
from ._components import Runtime, Store, Strategy, validate_spec
from ._config import Config
from ._converter import structure
from ._errors import ConfigError, PluginError
from ._hooks import Hooks
from ._source import Source


@attrs.frozen
class Assembly:
    """The parts of an orchestrator that a good config yields."""

    plugins: Mapping[str, object]
    """Plugin instances by name, in call order."""
    hooks: Hooks
    runtimes: Mapping[str, Runtime]
    store: Store
    strategy: Strategy


def assemble(config: Config, extra: Sequence[object] = ()) -> Assembly:
    """Load the plugins ``config`` enables (plus plugin objects given directly), build their
    hooks, select the store and strategy, check each pool's runtime and options, the routing
    weights and every plugin's ``alveary_check_config``.

    Raises one error listing every problem, sorted by line: ``PluginError`` when some plugin
    could not be loaded (the lines include the config's other problems), else ``ConfigError``.
    """
    problems: list[str] = []
    loaded = _plugins.load(config, extra, problems)
    plugin_failed = bool(problems)
    settings = config.orchestrator
    hooks = Hooks(
        [(p.name, p.instance) for p in loaded],
        budget=settings.hook_timeout,
        max_failures=settings.max_failures,
        weights=config.routing.weights,
    )
    runtimes = _components(lambda: hooks.components("alveary_runtimes"), problems)
    stores = _components(lambda: hooks.components("alveary_stores"), problems)
    strategies = _components(lambda: hooks.components("alveary_strategies"), problems)
    names = [p.name for p in loaded]
    src = config.source

    if stores is not None and settings.store not in stores:
        problems.append(
            src.error(
                ("orchestrator", "store"),
                unknown(settings.store, stores, "alveary_stores", config, names),
            )
        )
    if strategies is not None and settings.strategy not in strategies:
        problems.append(
            src.error(
                ("orchestrator", "strategy"),
                unknown(settings.strategy, strategies, "alveary_strategies", config, names),
            )
        )
    for i, pool in enumerate(config.pools):
        for key, value in (("min", pool.size.min), ("max", pool.size.max)):
            if value is not None and value > settings.max_pool_size:
                limit = f"at most [orchestrator] max_pool_size ({settings.max_pool_size})"
                problems.append(src.error(("pools", i, "size", key), f"expected {limit}"))
        runtime = None if runtimes is None else runtimes.get(pool.runtime)
        if runtime is None:
            if runtimes is not None:
                message = unknown(pool.runtime, runtimes, "alveary_runtimes", config, names)
                problems.append(src.error(("pools", i, "runtime"), message))
            continue
        try:
            validate_spec(runtime, pool.agent_spec(pool.name))
        except ValueError as exc:
            problems.append(src.error(("pools", i, "options"), str(exc)))
        except Exception as exc:  # a runtime's own check is a plugin's code: it may break
            problems.append(
                src.error(
                    ("pools", i, "options"),
                    f"runtime {pool.runtime!r} failed to check them: {type(exc).__name__}: {exc}",
                )
            )
    # a plugin that failed is reported already
    wanted = {*turned_on(config.enabled, config.disabled), *names}
    for name in config.routing.weights:
        if name not in wanted:
            problems.append(
                src.error(("routing", "weights", name), f"no enabled plugin named {name!r}")
            )
    plugins = {p.name: p.instance for p in loaded}
    problems.extend(hooks.check_config(config, plugins))

    if problems or runtimes is None or stores is None or strategies is None:
        lines = by_line(problems, src)  # a None came with its problems
        raise PluginError(lines) if plugin_failed else ConfigError(lines)
    return Assembly(
        plugins=plugins,
        hooks=hooks,
        runtimes=runtimes,
        store=stores[settings.store],
        strategy=strategies[settings.strategy],
    )


def _components(
    collect: Callable[[], dict[str, Any]], problems: list[str]
) -> dict[str, Any] | None:
    """What one component hook provides, or None (its problems added) when it failed, so
    that no name is then reported unknown because of it."""
    try:
        return collect()
    except PluginError as exc:
        problems.extend(exc.lines)
        return None


def unknown(
    name: str, known: Mapping[str, object], hook: str, config: Config, loaded: Collection[str]
) -> str:
    """Why a store, strategy or runtime ``name`` is not available: the installed plugin that
    would provide it (not one of the ``loaded``), or the names that are."""
    provider = _provider(name, hook, loaded)
    if provider in config.disabled:
        return f"{name!r} is provided by built-in plugin {provider!r}, which is disabled"
    if provider in turned_on(config.enabled, config.disabled):
        return (
            f"{name!r} is provided by plugin {provider!r}, which could not be loaded "
            "(see its error)"
        )
    if provider is not None:
        return (
            f"{name!r} is provided by plugin {provider!r}, which is not enabled "
            "(add it to plugins.enabled)"
        )
    return f"{name!r} is not one of {', '.join(sorted(known)) or '(none installed)'}"


def _provider(name: str, hook: str, loaded: Collection[str]) -> str | None:
    """The installed plugin, not among ``loaded``, whose ``hook`` provides ``name``.

    It imports and builds every other installed plugin with its default settings, so it runs
    only to explain an error, never on a normal start. A plugin that cannot be built so is
    skipped: this is a hint, the error stands without it.
    """
    for plugin, entry_point in sorted(installed().items()):
        if plugin in loaded:
            continue
        try:
            cls = entry_point.load()
            settings = getattr(cls, "Config", None)
            instance = cls() if settings is None else cls(structure({}, settings))
            provides = getattr(instance, hook, None)
            if provides is not None and name in provides():
                return plugin
        except Exception:  # see the docstring
            continue
    return None


def by_line(lines: Sequence[str], source: Source) -> list[str]:
    """``lines`` without repeats, those without a place first (a plugin that did not load),
    then by their line in ``source``'s file; otherwise in the order found."""
    prefix = re.compile(rf"{re.escape(source.file)}(?::(\d+))?: ")

    def place(line: str) -> tuple[int, int]:
        match = prefix.match(line)
        if match is None:
            return (0, 0)
        return (1, int(match.group(1) or 0))

    return sorted(dict.fromkeys(lines), key=place)
