"""alveary: orchestrate agents through a plugin framework.

The public API is what this module exports; modules starting with ``_`` are private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
)
from ._orchestrator import Metrics, Orchestrator, StartFailed, TaskHandle
from ._records import (
    Agent,
    AgentSpec,
    AgentState,
    Event,
    HealthReport,
    HealthStatus,
    Outcome,
    Pool,
    PoolMetrics,
    PoolSize,
    Principal,
    Priority,
    Task,
    TaskSpec,
    TaskState,
)
from ._routing import Candidates
from .hookspecs import hookimpl, hookspec

try:
    __version__ = version("alveary")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Agent",
    "AgentSpec",
    "AgentState",
    "AlvearyError",
    "Candidates",
    "Config",
    "ConfigError",
    "Denied",
    "Event",
    "FieldError",
    "HealthReport",
    "HealthStatus",
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
    "StartFailed",
    "Store",
    "Strategy",
    "Task",
    "TaskHandle",
    "TaskSpec",
    "TaskState",
    "__version__",
    "error_lines",
    "hookimpl",
    "hookspec",
    "structure",
    "unstructure",
]
