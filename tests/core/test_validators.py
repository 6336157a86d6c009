"""``alveary.validators``: the bounds each accepts, and errors that name the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from alveary import FieldError
from alveary.validators import fraction, non_negative, positive, rate

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
    assert str(info.value) == message
