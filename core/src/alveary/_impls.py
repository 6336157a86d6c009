"""The table of hook implementations: which plugins implement each hook, in call order.

Built from pluggy's registrations once at start and again whenever a plugin is disabled;
``_isolation`` calls what it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from typing import Any

import attrs
import pluggy

from .hookspecs import GATES, HOOK_NAMES, SPEC_ARGS

EVENT = "alveary_event"
_IN_ATTEMPT = frozenset({"alveary_task_before", "alveary_task_after"})
"""Hooks inside an attempt's timeout: a plugin with ``attempt_budget = True`` gets that
timeout as their budget (gates that run commands), instead of ``hook_timeout``."""


@attrs.define(slots=True)
class Impl:
    """One plugin's implementation of one hook, ready to call."""

    plugin: str
    hook: str
    fn: Callable[..., Any]
    """Takes the hook's arguments positionally, in the spec's order, whatever subset of them
    the plugin declared."""
    key: tuple[str, str]
    patient: bool = False
    """Its plugin asked for the attempt's timeout as its budget (``attempt_budget``)."""
    wants: Container[str] | None = None
    """For ``alveary_event``: the event types its plugin asked for (``event_types``); None
    for every event."""


def table(
    pm: pluggy.PluginManager, order: Mapping[str, int], disabled: Container[str]
) -> tuple[dict[str, tuple[Impl, ...]], dict[str, str]]:
    """The enabled implementations of every hook (``tryfirst`` first, ``trylast`` last, else
    in plugin ``order``), and for each gate hook a disabled plugin that implements it (that
    gate then refuses everything)."""
    impls: dict[str, tuple[Impl, ...]] = {}
    closed: dict[str, str] = {}
    for hook in HOOK_NAMES:
        found = []
        for impl in getattr(pm.hook, hook).get_hookimpls():
            name = impl.plugin_name
            if name in disabled:
                if hook in GATES:
                    closed.setdefault(hook, name)
                continue
            rank = 0 if impl.tryfirst else 2 if impl.trylast else 1
            fn = _positional(impl.function, tuple(impl.argnames), SPEC_ARGS[hook])
            patient = hook in _IN_ATTEMPT and getattr(impl.plugin, "attempt_budget", 0) is True
            wants = getattr(impl.plugin, "event_types", None) if hook == EVENT else None
            entry = Impl(name, hook, fn, (name, hook), patient, wants)
            found.append((rank, order.get(name, len(order)), entry))
        found.sort(key=lambda t: (t[0], t[1]))
        impls[hook] = tuple(i for _, _, i in found)
    return impls, closed


def _positional(
    fn: Callable[..., Any], takes: tuple[str, ...], spec: tuple[str, ...]
) -> Callable[..., Any]:
    """``fn`` callable with every argument of its hook's spec, in order. pluggy lets an
    implementation declare a subset of them, which it then passes by name."""
    if takes == spec:
        return fn
    picks = [(name, spec.index(name)) for name in takes]

    def call(*args: Any) -> Any:
        return fn(**{name: args[i] for name, i in picks})

    return call


def bad_event_types(name: str, plugin: object) -> str | None:
    """What is wrong with a plugin's ``event_types``, if it has one: it must answer ``in``,
    and a string would answer it for any part of a type."""
    wants = getattr(plugin, "event_types", None)
    if wants is None or (not isinstance(wants, (str, bytes)) and isinstance(wants, Container)):
        return None
    return (
        f"plugin {name!r}: event_types must be a collection of event types "
        f"(a set, or an object with __contains__), not {type(wants).__name__}"
    )
