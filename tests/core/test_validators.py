"""``alveary.validators``: the bounds each accepts, and errors that name the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from alveary import FieldError
from alveary.validators import (
    count,
    fraction,
    levels,
    name,
    names_loopback,
    non_negative,
    positive,
    rate,
)

Validator = Callable[[object, "attrs.Attribute[Any]", float], None]


@attrs.frozen
class _Probe:
    value: float = 0.5


_FIELD = attrs.fields(_Probe).value


@pytest.mark.parametrize(
    ("validator", "accepted", "refused", "message"),
    [
        (positive, [1e-9, 1, 3.5], [0, -1], "expected a number > 0, got -1"),
        (non_negative, [0, 0.0, 7], [-1e-9, -1], "expected a number >= 0, got -1"),
        (fraction, [0, 0.5, 1], [-0.1, 1.01, -1], "expected a number in [0, 1], got -1"),
        (rate, [1e-9, 0.5, 1], [0, 1.01, -1], "expected a number in (0, 1], got -1"),
    ],
)
def test_each_validator_accepts_its_range_and_names_the_field(
    validator: Validator, accepted: list[float], refused: list[float], message: str
) -> None:
    for value in accepted:
        validator(None, _FIELD, value)
    for value in refused:
        with pytest.raises(FieldError) as info:
            validator(None, _FIELD, value)
        assert info.value.field == "value"
    assert info.value.message == message
    assert str(info.value) == f"value: {message}"


@pytest.mark.parametrize("validator", [positive, non_negative, fraction, rate])
@pytest.mark.parametrize(
    ("value", "finite"),
    [
        (float("nan"), True),
        (float("inf"), True),
        (float("-inf"), True),
        (10**400, True),
        ("1", False),
        (True, False),
        (None, False),
        ([1], False),
    ],
)
def test_number_validators_refuse_what_is_not_a_finite_number(
    validator: Validator, value: Any, finite: bool
) -> None:
    with pytest.raises(FieldError) as info:
        validator(None, _FIELD, value)
    assert info.value.message.startswith(
        "expected a finite number" if finite else "expected a number"
    )
    assert len(info.value.message) < 80  # a huge value is shown cut short


def test_count_takes_integers_of_at_least_one() -> None:
    for value in (1, 2, 10**6):
        count(None, _FIELD, value)
    for value in (0, -1, 2.5, 1.0, True, "2", None, float("nan")):
        with pytest.raises(FieldError, match="expected an integer >= 1"):
            count(None, _FIELD, value)


def test_name_takes_a_string_with_something_in_it() -> None:
    name(None, _FIELD, "reviewers")
    for value in ("", "   ", 3, None):
        with pytest.raises(FieldError, match="expected a non-empty name"):
            name(None, _FIELD, value)


def test_levels_take_numbers_in_0_1_by_name() -> None:
    levels(None, _FIELD, {"review": 0.5, "lint": 1, "ops": 0})
    for value in (
        {"x": 1.5},
        {"x": -0.1},
        {"x": float("nan")},
        {"x": "high"},
        {1: 0.5},
        {"x": True},
    ):
        with pytest.raises(FieldError, match=r"expected levels in \[0, 1\] by name"):
            levels(None, _FIELD, value)
    with pytest.raises(FieldError, match="expected a table"):
        levels(None, _FIELD, ["review"])


@pytest.mark.parametrize(
    ("host", "names"),
    [
        ("127.0.0.1:8787", True),
        ("127.9.9.9", True),
        ("localhost:8787", True),
        ("LocalHost", True),
        ("[::1]:8787", True),
        ("[::1]", True),
        ("::1", True),
        ("evil.example:8787", False),
        ("127.0.0.1.nip.io:8787", False),
        ("10.0.0.1:8787", False),
        ("[::ffff:10.0.0.1]:80", False),
        ("", False),
        ("[", False),
        ("-x", False),
    ],
)
def test_names_loopback_tells_this_machine_from_a_rebound_name(host: str, names: bool) -> None:
    assert names_loopback(host) is names
