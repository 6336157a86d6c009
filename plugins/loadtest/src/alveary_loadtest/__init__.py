"""alveary-loadtest: drive a real orchestrator with a plan (spawn, delegation, concurrent,
stress), check the targets, compare with a baseline; ``alveary loadtest PLAN.toml``."""

from __future__ import annotations

from ._plan import Arrival, Load, Mix, Plan, PlanError, Spawn, Targets, parse, read

__all__ = ["Arrival", "Load", "Mix", "Plan", "PlanError", "Spawn", "Targets", "parse", "read"]
