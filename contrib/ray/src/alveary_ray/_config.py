"""``[plugins.ray]`` (the cluster) and each pool's ``options`` (its actors), checked strictly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import alveary
import attrs
from alveary.validators import name, non_negative, positive
from attrs.validators import optional


@attrs.frozen
class Config:
    """``[plugins.ray]``: which cluster the actors run on."""

    address: str | None = None
    """``"auto"`` (the cluster this machine belongs to), ``"ray://HOST:10001"`` (a remote
    cluster through Ray Client), ``"HOST:6379"`` (a head node), or unset: a cluster of this
    process's own, started on first use and stopped when the process exits. Not used when
    the process is connected to Ray already."""
    namespace: str = attrs.field(default="alveary", validator=name)
    """The Ray namespace the actors are named in (``<agent name>-<agent id>``)."""
    stop_timeout: float = attrs.field(default=10.0, validator=positive)
    """Seconds ``stop`` waits for the cluster to acknowledge killing an actor before it gives
    up on an unresponsive cluster (the actor then ends with this process's connection)."""


def _resources(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    for key, amount in value.items():
        ok = not isinstance(amount, bool) and isinstance(amount, (int, float))
        if not ok or not math.isfinite(amount) or amount < 0 or not key:
            raise alveary.FieldError(
                attribute.name, f"expected amounts >= 0 by resource name, got {key!r} = {amount!r}"
            )


def _handler(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    module, sep, function = value.partition(":")
    if not sep or not module.strip() or not function.strip() or value.startswith("-"):
        raise alveary.FieldError(
            attribute.name, f"expected 'package.module:function', got {value!r}"
        )


_restarts = (
    "the pool replaces an actor that died (see restart_base and restart_max in [[pools]]); "
    "Ray does not restart it"
)


@attrs.frozen
class RayOptions:
    """A pool's or agent's ``options`` under the ``ray`` runtime."""

    handler: str = attrs.field(validator=_handler)
    """``"package.module:function"``: the agent function (``@alveary.agent.agent`` or plain),
    importable on the cluster's workers (installed there, or shipped by ``runtime_env``)."""
    num_cpus: float | None = attrs.field(default=None, validator=optional(non_negative))
    """CPUs each actor reserves (Ray's default when unset)."""
    num_gpus: float | None = attrs.field(default=None, validator=optional(non_negative))
    """GPUs each actor reserves."""
    memory: float | None = attrs.field(default=None, validator=optional(non_negative))
    """Bytes of memory each actor reserves, for scheduling."""
    resources: dict[str, float] = attrs.field(factory=dict, validator=_resources)
    """Custom resources each actor reserves (``{ accelerator = 1 }``)."""
    runtime_env: dict[str, Any] | None = None
    """Ray's ``runtime_env`` for the actors: ``pip``, ``env_vars``, ``working_dir``, ..."""


def parse(options: Mapping[str, Any]) -> RayOptions:
    """Structure an agent's options; ``ValueError`` with every problem on one line."""
    if not isinstance(options, Mapping):
        raise ValueError(f"expected a table of options, got {options!r}")
    if "max_restarts" in options:
        raise ValueError(f"max_restarts: not an option of the ray runtime: {_restarts}")
    try:
        parsed: RayOptions = alveary.structure(dict(options), RayOptions)
    except Exception as exc:
        raise ValueError("; ".join(alveary.error_lines(exc))) from None
    return parsed
