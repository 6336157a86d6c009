"""Reading ``alveary.toml``: structure it into attrs classes and report every mistake at once,
each on one line with the file, the line, the dotted key and what was expected."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

import attrs

from . import validators
from ._converter import Path, dotted, iter_errors, structure, unknown_key
from ._errors import ConfigError
from ._records import AgentSpec, PoolSize
from ._source import Source, read_toml
from ._toml import MAX_DEPTH, find
from ._values import shown
from .validators import non_negative, positive


@attrs.frozen
class OrchestratorConfig:
    """``[orchestrator]``: the kernel's own settings."""

    store: str = "memory"
    strategy: str = "least-loaded"
    tick_interval: float = attrs.field(default=1.0, validator=positive)
    health_interval: float = attrs.field(default=5.0, validator=positive)
    hook_timeout: float = attrs.field(default=0.1, validator=positive)
    max_failures: int = attrs.field(default=5, validator=positive)
    shutdown_timeout: float = attrs.field(default=30.0, validator=non_negative)
    start_timeout: float = attrs.field(default=60.0, validator=positive)
    """How long a runtime may take to start an agent before the start counts as failed."""
    cancel_grace: float = attrs.field(default=5.0, validator=positive)
    """How long an interrupted attempt (timeout, cancel, agent lost) may take to unwind
    before the kernel settles it anyway and abandons the runtime's work."""
    retry_base: float = attrs.field(default=0.5, validator=non_negative)
    retry_max: float = attrs.field(default=60.0, validator=non_negative)
    restart_base: float = attrs.field(default=1.0, validator=non_negative)
    """After consecutive failures of a pool's agents, wait ``restart_base * 2**(n-2)`` s."""
    restart_max: float = attrs.field(default=60.0, validator=non_negative)
    """The longest wait before starting a pool agent again after failures."""
    max_pool_size: int = attrs.field(default=1000, validator=positive)
    """The most agents one pool may be sized to, in the config or by ``resize``: a typo or a
    hostile request cannot have the kernel start a million agents."""


@attrs.frozen
class RoutingConfig:
    """``[routing]``: how many candidates strategies sample, and score weights per plugin."""

    sample: int = attrs.field(default=2, validator=non_negative)
    weights: dict[str, float] = attrs.field(factory=dict)


@attrs.frozen
class PoolConfig:
    """One ``[[pools]]`` entry: agents the kernel keeps running."""

    name: str = attrs.field(validator=validators.name)
    runtime: str = "local"
    size: PoolSize = attrs.field(factory=PoolSize)
    capabilities: frozenset[str] = frozenset()
    capacity: int = attrs.field(default=1, validator=validators.count)
    options: dict[str, Any] = attrs.field(factory=dict)
    labels: dict[str, str] = attrs.field(factory=dict)
    skills: dict[str, float] = attrs.field(factory=dict, validator=validators.levels)

    def agent_spec(self, name: str) -> AgentSpec:
        return AgentSpec(
            name=name,
            capabilities=self.capabilities,
            capacity=self.capacity,
            runtime=self.runtime,
            options=self.options,
            labels=self.labels,
            skills=self.skills,
        )


@attrs.frozen
class _Sections:
    orchestrator: OrchestratorConfig = attrs.field(factory=OrchestratorConfig)
    routing: RoutingConfig = attrs.field(factory=RoutingConfig)
    pools: list[PoolConfig] = attrs.field(factory=list)


@attrs.frozen
class Config:
    """A whole configuration: kernel settings, which plugins, their raw tables, the pools."""

    orchestrator: OrchestratorConfig = attrs.field(factory=OrchestratorConfig)
    routing: RoutingConfig = attrs.field(factory=RoutingConfig)
    pools: tuple[PoolConfig, ...] = ()
    enabled: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    plugin_settings: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    source: Source = attrs.field(factory=Source)


_TOP = ("orchestrator", "plugins", "routing", "pools")


def parse(data: Mapping[str, Any], source: Source | None = None) -> Config:
    """Structure a parsed TOML mapping into a ``Config``; raise ``ConfigError`` with every
    problem."""
    source = source or Source()
    if not isinstance(data, Mapping):
        raise ConfigError(source.error((), f"expected a table, got {shown(data)}"))
    deep = _too_deep(data)
    if deep is not None:  # before anything recurses into it
        raise ConfigError(source.error(deep, f"nested more than {MAX_DEPTH} levels deep"))
    errors: list[str] = []
    data = dict(data)

    for key in data:
        if key not in _TOP:
            errors.append(source.error((key,), unknown_key(key, list(_TOP))))
    plugins = data.pop("plugins", {})
    lists: dict[str, tuple[str, ...]] = {"enabled": (), "disabled": ()}
    settings: dict[str, Mapping[str, Any]] = {}
    if not isinstance(plugins, Mapping):
        errors.append(source.error(("plugins",), "expected a table"))
        plugins = {}
    for key, value in plugins.items():
        if key in lists:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors.append(source.error(("plugins", key), "expected a list of plugin names"))
            else:
                lists[key] = tuple(value)
        elif isinstance(value, Mapping):
            settings[key] = value
        else:
            errors.append(
                source.error(
                    ("plugins", key),
                    f"expected a table of plugin settings ([{dotted(('plugins', key))}]), "
                    "or 'enabled' / 'disabled'",
                )
            )

    sections = _Sections()
    try:
        sections = structure({k: v for k, v in data.items() if k in _TOP}, _Sections)
    except Exception as exc:  # cattrs groups every problem in one exception
        errors.extend(source.error(path, message) for path, message in iter_errors(exc))

    for i, pool in enumerate(sections.pools):  # here, not in a validator: errors get a key
        low, high = pool.size.min, pool.size.max
        if low < 0:
            errors.append(source.error(("pools", i, "size", "min"), f"expected >= 0, got {low}"))
        if high is not None and high < low:
            errors.append(
                source.error(
                    ("pools", i, "size", "max"), f"expected >= size.min ({low}), got {high}"
                )
            )
    names = [p.name for p in sections.pools]
    for i, name in enumerate(names):
        if name in names[:i]:
            errors.append(source.error(("pools", i, "name"), f"pool {name!r} is declared twice"))

    if errors:
        raise ConfigError(errors)
    return Config(
        orchestrator=sections.orchestrator,
        routing=sections.routing,
        pools=tuple(sections.pools),
        enabled=lists["enabled"],
        disabled=lists["disabled"],
        plugin_settings=settings,
        source=source,
    )


def load(path: str | FsPath | None = None) -> Config:
    """Read the config: ``path`` if given, else ``./alveary.toml``, else ``[tool.alveary]``
    in ``./pyproject.toml``. Raise ``ConfigError`` if none is found or it is wrong."""
    found = find(path)
    if found is not None:
        try:
            return _load_file(*found)
        except _NoTable:
            pass
    raise ConfigError(
        "no configuration found: pass --config FILE, or create ./alveary.toml, "
        "or add [tool.alveary] to ./pyproject.toml"
    )


def _too_deep(data: Mapping[str, Any]) -> Path | None:
    """The key (its first levels) under which ``data`` nests deeper than ``MAX_DEPTH``."""
    stack: list[tuple[Path, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            return path[:3]
        if isinstance(value, Mapping):
            stack.extend(((*path, str(k)), v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend(((*path, i), v) for i, v in enumerate(value))
    return None


def _load_file(path: FsPath, prefix: Path) -> Config:
    data: Any
    data, source = read_toml(path)
    for step in prefix:
        data = data.get(step) if isinstance(data, Mapping) else None
        if data is None:
            raise _NoTable(f"{path}: no [{'.'.join(map(str, prefix))}] table")
    return parse(data, attrs.evolve(source, prefix=prefix))


class _NoTable(ConfigError):
    """The file has no table for alveary (``pyproject.toml`` without ``[tool.alveary]``)."""
