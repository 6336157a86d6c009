"""Assembling a kernel from a config: load the plugins, collect their components, check that
the config's choices exist, and report every problem at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from . import _plugins
from ._components import Runtime, Store, Strategy, validate_spec
from ._config import Config
from ._errors import ConfigError
from ._hooks import Hooks


@attrs.frozen
class Parts:
    """What an orchestrator is built from."""

    plugins: dict[str, object]
    hooks: Hooks
    runtimes: dict[str, Runtime]
    store: Store
    strategy: Strategy


def assemble(config: Config, extra: Sequence[object] = ()) -> Parts:
    """Load and check the plugins ``config`` enables (plus ``extra`` plugin objects); raise
    ``PluginError`` or ``ConfigError`` listing every problem."""
    settings = config.orchestrator
    loaded = _plugins.load(config, extra)
    plugins = {p.name: p.instance for p in loaded}
    hooks = Hooks(
        [(p.name, p.instance) for p in loaded],
        budget=settings.hook_timeout,
        max_failures=settings.max_failures,
        weights=config.routing.weights,
    )
    runtimes: dict[str, Runtime] = hooks.components("alveary_runtimes")
    stores: dict[str, Store] = hooks.components("alveary_stores")
    strategies: dict[str, Strategy] = hooks.components("alveary_strategies")
    problems = []
    src = config.source
    if settings.store not in stores:
        problems.append(src.error(("orchestrator", "store"), _one_of(settings.store, stores)))
    if settings.strategy not in strategies:
        problems.append(
            src.error(("orchestrator", "strategy"), _one_of(settings.strategy, strategies))
        )
    for i, pool in enumerate(config.pools):
        runtime = runtimes.get(pool.runtime)
        if runtime is None:
            problems.append(src.error(("pools", i, "runtime"), _one_of(pool.runtime, runtimes)))
            continue
        try:
            validate_spec(runtime, pool.agent_spec(pool.name))
        except ValueError as exc:
            problems.append(src.error(("pools", i, "options"), str(exc)))
    for name in config.routing.weights:
        if name not in plugins:
            problems.append(
                src.error(("routing", "weights", name), f"no enabled plugin named {name!r}")
            )
    if problems:
        raise ConfigError(problems)
    return Parts(plugins, hooks, runtimes, stores[settings.store], strategies[settings.strategy])


def _one_of(name: str, known: Mapping[str, object]) -> str:
    return f"{name!r} is not one of {', '.join(sorted(known)) or '(none installed)'}"
