"""What a hook may return: each check gives None when a plugin's value is right, else one
line saying what is wrong with it (the plugin's failure, never the task's)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any

from ._records import Agent, AgentSpec, HealthReport, Outcome, Principal
from ._values import finite, shown
from ._verdicts import CommandVerdict


def kind(value: object) -> str:
    """A value as an error line shows it: its type and its repr, cut short."""
    return f"{type(value).__name__} {shown(value)}"


def is_a(cls: type[Any]) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        return None if isinstance(value, cls) else f"returned {kind(value)}, not {cls.__name__}"

    return check


def finite_number(value: object) -> str | None:
    if isinstance(value, Real) and not isinstance(value, bool) and finite(float(value)):
        return None
    return f"returned {kind(value)}, not a finite number"


def whole_number(value: object) -> str | None:
    if isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= 0:
        return None
    return f"returned {kind(value)}, not a whole number >= 0"


def agents(value: object) -> str | None:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return f"returned {kind(value)}, not a sequence of agents"
    if not isinstance(value, (Sequence, set, frozenset)):
        return f"returned {kind(value)}: return a list of agents, not an iterator"
    if not all(isinstance(a, Agent) for a in value):
        return "returned a sequence holding something other than agents"
    return None


def terminal_outcome(value: object) -> str | None:
    if not isinstance(value, Outcome):
        return f"returned {kind(value)}, not an Outcome"
    if not value.state.terminal:
        return f"returned an Outcome in state {value.state.value!r}, which is not terminal"
    return None


agent_spec = is_a(AgentSpec)
health_report = is_a(HealthReport)
principal = is_a(Principal)
boolean = is_a(bool)
verdict = is_a(CommandVerdict)
