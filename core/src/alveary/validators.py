"""attrs validators for the numbers in config classes, the kernel's and plugins'.

Each raises ``alveary.FieldError`` naming the field, so a bad value is reported against its
full key and line: ``alveary.toml:7: plugins.balancer.alpha: expected a number in (0, 1],
got 2.0``. Use them as ``attrs.field(default=..., validator=positive)``; for a field that may
be ``None``, wrap one in ``attrs.validators.optional``.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._converter import FieldError

__all__ = ["fraction", "non_negative", "positive", "rate"]


def positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Accept a number > 0: intervals, timeouts, sizes, counts of at least one."""
    if value <= 0:
        raise FieldError(attribute.name, f"expected a number > 0, got {value!r}")


def non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Accept a number >= 0: weights, delays and limits where 0 means none or off."""
    if value < 0:
        raise FieldError(attribute.name, f"expected a number >= 0, got {value!r}")


def fraction(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Accept a number in [0, 1]: loads, shares and thresholds on them."""
    if not 0 <= value <= 1:
        raise FieldError(attribute.name, f"expected a number in [0, 1], got {value!r}")


def rate(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Accept a number in (0, 1]: smoothing factors and ratios that must not be 0."""
    if not 0 < value <= 1:
        raise FieldError(attribute.name, f"expected a number in (0, 1], got {value!r}")
