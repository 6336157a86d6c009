"""attrs validators for config classes and records, the kernel's and plugins'.

Each raises ``alveary.FieldError`` naming the field, so a bad value is reported against its
full key and line: ``alveary.toml:7: plugins.balancer.alpha: expected a number in (0, 1],
got 2.0``. The number validators refuse what is not a number, ``true``/``false``, ``nan`` and
infinities (``tick_interval = nan`` would spin a core). Use them as
``attrs.field(default=..., validator=positive)``; for a field that may be ``None``, wrap one
in ``attrs.validators.optional``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import attrs

from ._errors import FieldError
from ._values import finite, shown

__all__ = [
    "count",
    "fraction",
    "is_loopback",
    "levels",
    "listen",
    "name",
    "non_negative",
    "positive",
    "rate",
    "split_listen",
]


def _number(attribute: attrs.Attribute[Any], value: object, bound: str) -> float:
    """``value`` if it is a finite number; else the error ``expected a number {bound}``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(attribute.name, f"expected a number {bound}, got {shown(value)}")
    if not finite(value):
        raise FieldError(attribute.name, f"expected a finite number {bound}, got {shown(value)}")
    return value


def positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Accept a number > 0: intervals, timeouts, sizes, counts of at least one."""
    if _number(attribute, value, "> 0") <= 0:
        raise FieldError(attribute.name, f"expected a number > 0, got {value!r}")


def non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Accept a number >= 0: weights, delays and limits where 0 means none or off."""
    if _number(attribute, value, ">= 0") < 0:
        raise FieldError(attribute.name, f"expected a number >= 0, got {value!r}")


def fraction(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Accept a number in [0, 1]: loads, shares and thresholds on them."""
    if not 0 <= _number(attribute, value, "in [0, 1]") <= 1:
        raise FieldError(attribute.name, f"expected a number in [0, 1], got {value!r}")


def rate(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Accept a number in (0, 1]: smoothing factors and ratios that must not be 0."""
    if not 0 < _number(attribute, value, "in (0, 1]") <= 1:
        raise FieldError(attribute.name, f"expected a number in (0, 1], got {value!r}")


def count(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    """Accept an integer >= 1 (not a float, not ``True``): capacities and attempts."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FieldError(attribute.name, f"expected an integer >= 1, got {shown(value)}")


def name(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    """Accept a string with something in it and nothing unprintable: names of pools and
    agents, kinds of tasks. A NUL or a line break in a name would end up in environment
    variables, file names and log lines, where it cannot go or misleads."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError(attribute.name, f"expected a non-empty name, got {shown(value)}")
    if not value.isprintable():
        raise FieldError(
            attribute.name, f"expected a name without control characters, got {value!r}"
        )


def levels(instance: object, attribute: attrs.Attribute[Any], value: Mapping[str, float]) -> None:
    """Accept a table of numbers in [0, 1] by name: skill levels per capability."""
    if not isinstance(value, Mapping):
        raise FieldError(attribute.name, f"expected a table, got {shown(value)}")
    for key, level in value.items():
        if isinstance(level, bool) or not isinstance(level, (int, float)):
            ok = False
        else:
            ok = 0 <= level <= 1  # False for nan; inf is out of range
        if not isinstance(key, str) or not ok:
            raise FieldError(
                attribute.name,
                f"expected levels in [0, 1] by name, got {shown(key)} = {shown(level)}",
            )


def split_listen(address: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:8787"`` for IPv6) as ``(host, port)``; raises ``ValueError``."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected 'host:port' with a port in 0-65535, got {address!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_unspecified(host: str) -> bool:
    """True for ``0.0.0.0`` and ``::``: a server listening there takes every address of the
    machine, loopback included."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def names_loopback(host: str) -> bool:
    """True when a ``Host`` header (``127.0.0.1:8787``, ``[::1]:8787``, ``localhost``) names
    this machine. A server on a loopback address answers only to such names: any other is a
    web page that made its own name resolve to 127.0.0.1 (DNS rebinding) to read the answers."""
    text = host.strip().lower()
    if text.startswith("["):
        text = text[1 : text.find("]")]
    elif text.count(":") == 1:
        text = text.rsplit(":", 1)[0]
    return is_loopback(text)


def listen(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    """Accept an address to listen on, ``"host:port"`` (port 0: any free port)."""
    if not isinstance(value, str):
        raise FieldError(attribute.name, f"expected 'host:port', got {shown(value)}")
    try:
        split_listen(value)
    except ValueError as exc:
        raise FieldError(attribute.name, str(exc)) from None
