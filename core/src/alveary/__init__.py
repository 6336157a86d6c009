"""alveary: orchestrate agents through a plugin framework.

The public API is what this module exports; modules starting with ``_`` are private.

Each name is imported on first use (PEP 562): ``import alveary.agent`` in an agent process
and ``alveary --version`` load neither the kernel nor its dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._components import Runtime, Store, Strategy
    from ._config import Config
    from ._converter import FieldError, error_lines, structure, unstructure
    from ._errors import (
        AlvearyError,
        ConfigError,
        Denied,
        NotFound,
        PermanentFailure,
        PluginError,
        Rejected,
        StandingBy,
        StartFailed,
        StoreError,
    )
    from ._gatekeeper import ACTIONS
    from ._handle import results
    from ._host import Host
    from ._orchestrator import Metrics, Orchestrator, TaskHandle
    from ._records import (
        Agent,
        AgentSpec,
        Event,
        HealthReport,
        Outcome,
        Pool,
        PoolMetrics,
        PoolSize,
        Principal,
        Task,
        TaskSpec,
    )
    from ._routing import Candidates
    from ._source import Source, read_toml
    from ._states import AgentState, HealthStatus, Priority, TaskState
    from ._verdicts import Approval, CommandVerdict
    from .hookspecs import hookimpl, hookspec

    __version__: str

_MODULES = {
    "._gatekeeper": ("ACTIONS",),
    "._components": ("Runtime", "Store", "Strategy"),
    "._config": ("Config",),
    "._converter": ("FieldError", "error_lines", "structure", "unstructure"),
    "._source": ("Source", "read_toml"),
    "._errors": (
        "AlvearyError",
        "ConfigError",
        "Denied",
        "NotFound",
        "PermanentFailure",
        "PluginError",
        "Rejected",
        "StandingBy",
        "StartFailed",
        "StoreError",
    ),
    "._handle": ("results",),
    "._orchestrator": ("Metrics", "Orchestrator", "TaskHandle"),
    "._records": (
        "Agent",
        "AgentSpec",
        "Event",
        "HealthReport",
        "Outcome",
        "Pool",
        "PoolMetrics",
        "PoolSize",
        "Principal",
        "Task",
        "TaskSpec",
    ),
    "._states": ("AgentState", "HealthStatus", "Priority", "TaskState"),
    "._routing": ("Candidates",),
    "._host": ("Host",),
    "._verdicts": ("Approval", "CommandVerdict"),
    ".hookspecs": ("hookimpl", "hookspec"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import a public name on first use; later reads find it in the module's namespace."""
    if name == "__version__":  # the build writes it into _version: no metadata look-up
        value: Any = importlib.import_module("._version", __name__).__version__
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "ACTIONS",
    "Agent",
    "AgentSpec",
    "AgentState",
    "AlvearyError",
    "Approval",
    "Candidates",
    "CommandVerdict",
    "Config",
    "ConfigError",
    "Denied",
    "Event",
    "FieldError",
    "HealthReport",
    "HealthStatus",
    "Host",
    "Metrics",
    "NotFound",
    "Orchestrator",
    "Outcome",
    "PermanentFailure",
    "PluginError",
    "Pool",
    "PoolMetrics",
    "PoolSize",
    "Principal",
    "Priority",
    "Rejected",
    "Runtime",
    "Source",
    "StandingBy",
    "StartFailed",
    "Store",
    "StoreError",
    "Strategy",
    "Task",
    "TaskHandle",
    "TaskSpec",
    "TaskState",
    "__version__",
    "error_lines",
    "hookimpl",
    "hookspec",
    "read_toml",
    "results",
    "structure",
    "unstructure",
]
