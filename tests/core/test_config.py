"""Reading ``alveary.toml``: every mistake is one line ``file:line: dotted.key: expectation``,
all of them at once, and the file is found where the docs say."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from alveary import Config, ConfigError
from alveary._config import load, parse
from alveary._records import PoolSize

LINE = re.compile(r"^alveary\.toml:\d+: [A-Za-z0-9_.\[\]-]+: \S.*$")


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, so ``load()`` looks only at the files a test writes."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors(here: Path, text: str) -> list[str]:
    """The error lines of ``./alveary.toml`` holding ``text``."""
    write(here / "alveary.toml", text)
    with pytest.raises(ConfigError) as info:
        load()
    for line in info.value.lines:
        assert LINE.match(line), line
    return info.value.lines


def test_a_full_config_is_structured(here: Path) -> None:
    write(
        here / "alveary.toml",
        """\
        [orchestrator]
        store = "memory"
        tick_interval = 0.5
        max_failures = 3

        [plugins]
        enabled = ["balancer", "health"]
        disabled = ["least-loaded"]

        [plugins.balancer]
        strategy = "p2c"

        [routing]
        sample = 0

        [routing.weights]
        balancer = 2

        [[pools]]
        name = "reviewers"
        size = { min = 2, max = 8 }
        capabilities = ["review"]
        options = { handler = "mypkg.agents:review" }
        """,
    )
    config = load()
    assert isinstance(config, Config)
    assert config.orchestrator.tick_interval == 0.5
    assert config.orchestrator.max_failures == 3
    assert config.orchestrator.hook_timeout == 0.1
    assert config.enabled == ("balancer", "health")
    assert config.disabled == ("least-loaded",)
    assert config.plugin_settings == {"balancer": {"strategy": "p2c"}}
    assert config.routing.sample == 0
    assert config.routing.weights == {"balancer": 2.0}
    [pool] = config.pools
    assert pool.name == "reviewers"
    assert pool.size == PoolSize(2, 8)
    assert pool.capabilities == frozenset({"review"})
    assert pool.agent_spec("reviewers-1").options == {"handler": "mypkg.agents:review"}


def test_an_empty_mapping_gives_the_defaults() -> None:
    config = parse({})
    assert config.orchestrator.store == "memory"
    assert config.orchestrator.strategy == "least-loaded"
    assert config.pools == ()
    assert config.enabled == ()


def test_an_error_names_file_line_key_and_expectation(here: Path) -> None:
    assert errors(
        here,
        """\
        [orchestrator]
        store = "memory"
        tick_interval = "fast"
        """,
    ) == ["alveary.toml:3: orchestrator.tick_interval: expected a number, got 'fast'"]


def test_every_error_is_reported_at_once(here: Path) -> None:
    assert errors(
        here,
        """\
        [orchestrator]
        tick_interval = "fast"

        [routing]
        sample = "two"

        [plugin]
        enabled = ["memory"]
        """,
    ) == [
        "alveary.toml:7: plugin: unknown key (did you mean 'plugins'?)",
        "alveary.toml:2: orchestrator.tick_interval: expected a number, got 'fast'",
        "alveary.toml:5: routing.sample: expected an integer, got 'two'",
    ]


def test_an_unknown_key_gets_the_closest_known_one(here: Path) -> None:
    assert errors(here, "[orchestrator]\ntick_intervall = 1\n") == [
        "alveary.toml:2: orchestrator.tick_intervall: unknown key (did you mean 'tick_interval'?)"
    ]


def test_an_unknown_key_without_a_close_one_lists_the_known_ones(here: Path) -> None:
    [line] = errors(here, "[routing]\ncolour = 'red'\n")
    assert line == "alveary.toml:2: routing.colour: unknown key (expected one of sample, weights)"


def test_a_validator_names_the_bound(here: Path) -> None:
    assert errors(here, "[orchestrator]\nhook_timeout = 0\n") == [
        "alveary.toml:2: orchestrator.hook_timeout: expected a number > 0, got 0.0"
    ]


def test_booleans_are_not_numbers(here: Path) -> None:
    assert errors(here, "[orchestrator]\nmax_failures = true\n") == [
        "alveary.toml:2: orchestrator.max_failures: expected an integer, got True"
    ]


def test_dotted_keys_are_located(here: Path) -> None:
    assert errors(here, "# comment\norchestrator.store = 3\n") == [
        "alveary.toml:2: orchestrator.store: expected a string, got 3"
    ]


# -- pools -------------------------------------------------------------------------------------


def test_a_pool_error_carries_its_index_and_line(here: Path) -> None:
    assert errors(
        here,
        """\
        [[pools]]
        name = "a"

        [[pools]]
        name = "b"
        capacity = "many"

        [[pools]]
        name = "c"
        runtim = "local"
        """,
    ) == [
        "alveary.toml:6: pools[1].capacity: expected an integer, got 'many'",
        "alveary.toml:10: pools[2].runtim: unknown key (did you mean 'runtime'?)",
    ]


def test_a_pool_size_max_below_min_is_refused(here: Path) -> None:
    assert errors(
        here,
        """\
        [[pools]]
        name = "a"

        [[pools]]
        name = "b"
        size = { min = 3, max = 1 }
        """,
    ) == ["alveary.toml:6: pools[1].size.max: expected >= size.min (3), got 1"]


def test_a_negative_pool_size_is_refused(here: Path) -> None:
    assert errors(here, "[[pools]]\nname = 'a'\nsize.min = -1\n") == [
        "alveary.toml:3: pools[0].size.min: expected >= 0, got -1"
    ]


def test_a_pool_name_declared_twice_is_refused(here: Path) -> None:
    assert errors(
        here,
        """\
        [[pools]]
        name = "a"

        [[pools]]
        name = "b"

        [[pools]]
        name = "a"
        """,
    ) == ["alveary.toml:8: pools[2].name: pool 'a' is declared twice"]


def test_a_string_is_not_a_list_of_capabilities(here: Path) -> None:
    """It would otherwise become the set of its characters."""
    assert errors(here, "[[pools]]\nname = 'a'\ncapabilities = 'review'\n") == [
        "alveary.toml:3: pools[0].capabilities: expected a list, got 'review'"
    ]


def test_a_pool_without_a_name_is_refused(here: Path) -> None:
    assert errors(here, "[[pools]]\nruntime = 'local'\n") == [
        "alveary.toml:1: pools[0].name: required key is missing"
    ]


# -- plugins table -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['"memory"', '["memory", 3]', "{ memory = true }"])
def test_plugins_enabled_must_be_a_list_of_names(here: Path, value: str) -> None:
    assert errors(here, f"[plugins]\nenabled = {value}\n") == [
        "alveary.toml:2: plugins.enabled: expected a list of plugin names"
    ]


def test_plugin_settings_must_be_a_table(here: Path) -> None:
    assert errors(here, "[plugins]\nbalancer = 3\n") == [
        "alveary.toml:2: plugins.balancer: expected a table of plugin settings "
        "([plugins.balancer]), or 'enabled' / 'disabled'"
    ]


# -- reading files -----------------------------------------------------------------------------


def test_invalid_toml_names_the_line(here: Path) -> None:
    write(here / "alveary.toml", "[orchestrator]\nstore = 'memory'\ntick_interval = \n")
    with pytest.raises(ConfigError) as info:
        load()
    [line] = info.value.lines
    assert line.startswith("alveary.toml:3: invalid TOML: ")
    assert "(at line" not in line


def test_a_missing_file_is_named(here: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load("nope.toml")
    assert info.value.lines == ["nope.toml: no such file"]


def test_an_explicit_path_wins(here: Path) -> None:
    write(here / "alveary.toml", "[orchestrator]\ntick_interval = 1.0\n")
    write(here / "other.toml", "[orchestrator]\ntick_interval = 2.0\n")
    assert load(here / "other.toml").orchestrator.tick_interval == 2.0
    assert load("other.toml").source.file == "other.toml"


def test_alveary_toml_wins_over_pyproject(here: Path) -> None:
    write(here / "alveary.toml", "[orchestrator]\ntick_interval = 1.5\n")
    write(here / "pyproject.toml", "[tool.alveary.orchestrator]\ntick_interval = 2.5\n")
    config = load()
    assert config.orchestrator.tick_interval == 1.5
    assert config.source.file == "alveary.toml"


def test_pyproject_tool_alveary_is_read_with_line_numbers(here: Path) -> None:
    write(
        here / "pyproject.toml",
        """\
        [project]
        name = "mine"

        [tool.alveary.orchestrator]
        tick_interval = 2.5

        [[tool.alveary.pools]]
        name = "p"
        """,
    )
    config = load()
    assert config.orchestrator.tick_interval == 2.5
    assert [p.name for p in config.pools] == ["p"]
    write(here / "pyproject.toml", "[project]\nname = 'mine'\n\n[tool.alveary]\nstor = 'x'\n")
    with pytest.raises(ConfigError) as info:
        load()
    assert info.value.lines == [
        "pyproject.toml:5: stor: unknown key (expected one of orchestrator, plugins, routing, "
        "pools)"
    ]


def test_pyproject_without_tool_alveary_is_no_configuration(here: Path) -> None:
    write(here / "pyproject.toml", "[project]\nname = 'mine'\n")
    with pytest.raises(ConfigError) as info:
        load()
    assert info.value.lines == [
        "no configuration found: pass --config FILE, or create ./alveary.toml, "
        "or add [tool.alveary] to ./pyproject.toml"
    ]


def test_no_file_at_all_is_no_configuration(here: Path) -> None:
    with pytest.raises(ConfigError, match=r"^no configuration found: "):
        load()
