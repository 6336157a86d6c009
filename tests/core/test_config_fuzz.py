"""Hostile configs: random TOML-shaped values (nan, infinities, huge numbers, deep and wrong
shapes) in every key of the kernel's tables. Building an orchestrator succeeds or raises
``ConfigError``/``PluginError``; ``alveary check`` exits 0 or 2, never with a traceback."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import attrs
import pytest
from alveary import ConfigError, Orchestrator, PluginError
from alveary._cli import main
from alveary._config import OrchestratorConfig, PoolConfig, RoutingConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 1e308, 2**63]),
    st.text(max_size=12),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


def table(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Some of ``cls``'s keys (and a stray one), each with a random value."""
    keys = [f.name for f in attrs.fields(cls)] + ["stray"]
    return st.dictionaries(st.sampled_from(keys), values, max_size=4)


pools = st.lists(
    table(PoolConfig).map(
        lambda pool: (
            {**pool, "options": {"handler": "alveary.testing:echo"}} if "options" in pool else pool
        )
    ),
    max_size=3,
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "orchestrator": table(OrchestratorConfig) | values,
        "routing": table(RoutingConfig) | values,
        "pools": pools | values,
        "plugins": st.fixed_dictionaries(
            {},
            optional={
                "enabled": st.lists(st.sampled_from(["memory", "local", "nope"]), max_size=2)
                | values,
                "memory": st.dictionaries(st.sampled_from(["retain", "x"]), values, max_size=2),
            },
        )
        | values,
        "stray": values,
    },
)


@FUZZ
@given(data=configs)
def test_building_from_any_config_succeeds_or_says_why(data: dict[str, Any]) -> None:
    lines: list[str] = []
    try:
        Orchestrator.from_config(data)
    except (ConfigError, PluginError) as exc:
        lines = exc.lines or ["(an error without lines)"]
    for line in lines:
        assert "\n" not in line
        assert "object has no attribute" not in line
        assert "unhashable" not in line
        assert line.startswith(("<config>", "plugin ")), line


def toml(value: Any) -> str:
    """``value`` as a TOML inline value (JSON's string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"


@FUZZ
@given(data=configs)
def test_alveary_check_exits_0_or_2_with_one_line_per_problem(
    data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text("".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in data.items()), "utf-8")
    status = main(["check", "--config", str(path)])
    out, err = capsys.readouterr()
    assert status in (0, 2)
    assert "Traceback" not in err
    if status == 2:
        assert out == ""
        assert all(line.startswith((str(path), "plugin ")) for line in err.splitlines()), err
