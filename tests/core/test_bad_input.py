"""Bad input gets one line per problem and exit status 2: files that are not config files,
values that are not finite, records built wrong, and every problem of a config in one pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import alveary
import pytest
from alveary import AgentSpec, ConfigError, Orchestrator, PluginError, TaskSpec
from alveary._config import load
from alveary._toml import MAX_BYTES

if TYPE_CHECKING:
    from conftest import Dists


def check(path: Path) -> subprocess.CompletedProcess[str]:
    """``alveary check --config path``, as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "alveary._cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lines_of(config: dict[str, Any], *plugins: object) -> list[str]:
    """The lines of the error that building an orchestrator from ``config`` raises."""
    with pytest.raises((ConfigError, PluginError)) as info:
        Orchestrator.from_config(config, plugins)
    return info.value.lines


# -- files that are not config files -----------------------------------------------------------


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    assert info.value.lines == [f"{tmp_path}: is a directory, not a TOML file"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "alveary.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as info:
        load(fifo)  # opening it for reading would block until someone writes
    assert info.value.lines == [f"{fifo}: not a regular file (a FIFO, a device, a socket?)"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_that_never_ends_is_refused() -> None:
    done = check(Path("/dev/zero"))
    assert (done.returncode, done.stderr) == (
        2,
        "/dev/zero: not a regular file (a FIFO, a device, a socket?)\n",
    )


def test_a_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(ConfigError) as info:
        load(big)
    assert info.value.lines == [f"{big}: larger than 1 MiB; not a TOML file?"]
    big.write_bytes(b"#" * (MAX_BYTES - 1) + b"\n")  # at the cap: fine
    assert load(big).pools == ()


def test_text_that_is_not_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('[orchestrator]\nstore = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load(bad)
    assert info.value.lines == [f"{bad}:2: not UTF-8 text (byte 0xe9 at offset 27)"]


@pytest.mark.parametrize(
    "value",
    ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "1" + "}" * 5000, "[" * 40 + "]" * 40],
    ids=["arrays", "inline-tables", "just-too-deep"],
)
def test_deep_nesting_is_refused_in_one_line(tmp_path: Path, value: str) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text(f"[orchestrator]\nstore = {value}\n", encoding="utf-8")
    done = check(deep)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"{deep}")
    assert line.endswith("nested more than 32 levels deep")


def test_deep_data_from_python_is_refused_with_its_key() -> None:
    deep: Any = 1
    for _ in range(100):
        deep = {"x": deep}
    with pytest.raises(ConfigError) as info:
        Orchestrator.from_config({"pools": [{"name": "p", "options": deep}]})
    assert info.value.lines == ["<config>: pools[0].options: nested more than 32 levels deep"]


# -- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+inf"])
@pytest.mark.parametrize("key", ["tick_interval", "retry_base", "hook_timeout", "restart_max"])
def test_non_finite_numbers_are_refused(tmp_path: Path, key: str, value: str) -> None:
    path = tmp_path / "alveary.toml"
    path.write_text(f"[orchestrator]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(path)
    [line] = info.value.lines
    assert line.startswith(f"{path}:2: orchestrator.{key}: expected a finite number, got ")


def test_python_internals_never_show_through() -> None:
    config = {
        "orchestrator": "fast",
        "routing": {"weights": "heavy"},
        "pools": [{"name": "a", "size": 3, "options": [], "capabilities": "x", "skills": 1}],
    }
    assert lines_of(config) == [
        "<config>: orchestrator: expected a table, got 'fast'",
        "<config>: routing.weights: expected a table, got 'heavy'",
        "<config>: pools[0].size: expected a table, got 3",
        "<config>: pools[0].capabilities: expected a list, got 'x'",
        "<config>: pools[0].options: expected a table, got []",
        "<config>: pools[0].skills: expected a table, got 1",
    ]


@pytest.mark.parametrize(
    ("pool", "line"),
    [
        ({"name": ""}, "pools[0].name: expected a non-empty name, got ''"),
        ({"name": "a", "skills": {"x": 1.5}}, "pools[0].skills: expected levels in [0, 1]"),
        ({"name": "a", "capacity": 0}, "pools[0].capacity: expected an integer >= 1, got 0"),
        (
            {"name": "a", "size": {"min": 1, "max": 10**9}, "options": {"handler": "json:dumps"}},
            "pools[0].size.max: expected at most [orchestrator] max_pool_size (1000)",
        ),
    ],
)
def test_bad_pools_are_refused(pool: dict[str, Any], line: str) -> None:
    [found] = lines_of({"pools": [pool]})
    assert found.startswith(f"<config>: {line}")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: AgentSpec("a", capacity=2.5), "capacity: expected an integer >= 1, got 2.5"),
        (lambda: AgentSpec("a", capacity=True), "capacity: expected an integer >= 1, got True"),
        (lambda: AgentSpec(""), "name: expected a non-empty name, got ''"),
        (lambda: AgentSpec("a", skills={"x": -0.1}), "skills: expected levels in [0, 1]"),
        (lambda: TaskSpec(""), "kind: expected a non-empty name, got ''"),
        (lambda: TaskSpec(7), "kind: expected a non-empty name, got 7"),
        (lambda: TaskSpec("echo\x00x"), "kind: expected a name without control characters"),
        (lambda: AgentSpec("a\nb"), "name: expected a name without control characters"),
        (lambda: TaskSpec("k", timeout=float("nan")), "timeout: expected a finite number > 0"),
        (lambda: TaskSpec("k", timeout=float("inf")), "timeout: expected a finite number > 0"),
        (lambda: TaskSpec("k", max_attempts=0.5), "max_attempts: expected an integer >= 1"),
        (lambda: TaskSpec("k", priority="soon"), "priority: expected one of low, medium"),
    ],
)
def test_records_refuse_bad_values_at_construction(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        build()


# -- every problem in one pass, sorted by line ---------------------------------------------------

ALL_WRONG = """\
[orchestrator]
store = "cassandra"
strategy = "fastest"

[plugins]
enabled = ["no-such-plugin"]

[routing.weights]
nobody = 2.0

[[pools]]
name = "a"
runtime = "docker"

[[pools]]
name = "b"
options = { handler = "no_such_module_here:handle" }
"""


def test_plugins_components_pools_and_weights_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "alveary.toml"
    path.write_text(ALL_WRONG, encoding="utf-8")
    with pytest.raises(PluginError) as info:  # a plugin is at fault: PluginError, all lines
        Orchestrator.from_file(path)
    lines = info.value.lines
    assert lines[:2] == [
        f"{path}:2: orchestrator.store: 'cassandra' is not one of memory",
        f"{path}:3: orchestrator.strategy: 'fastest' is not one of least-loaded",
    ]
    assert lines[2].startswith(f"{path}:6: plugins.enabled: unknown plugin 'no-such-plugin' (")
    assert lines[3:] == [
        f"{path}:9: routing.weights.nobody: no enabled plugin named 'nobody'",
        f"{path}:13: pools[0].runtime: 'docker' is not one of local",
        f"{path}:17: pools[1].options: cannot import handler 'no_such_module_here:handle': "
        "No module named 'no_such_module_here'",
    ]
    done = check(path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == info.value.lines


def test_an_unknown_strategy_names_the_installed_plugin_that_provides_it(
    dists: Dists,
) -> None:
    dists.plugin(
        "fancy",
        """\
        import alveary

        class Plugin:
            @alveary.hookimpl
            def alveary_strategies(self):
                return {"fanciest": object()}
        """,
    )
    assert lines_of({"orchestrator": {"strategy": "fanciest"}}) == [
        "<config>: orchestrator.strategy: 'fanciest' is provided by plugin 'fancy', "
        "which is not enabled (add it to plugins.enabled)"
    ]


def test_a_runtime_of_an_enabled_plugin_whose_config_is_bad_is_not_called_unenabled(
    dists: Dists,
) -> None:
    dists.plugin(
        "remote",
        """\
        import alveary
        import attrs

        class Plugin:
            @attrs.frozen
            class Config:
                port: int = 1

            def __init__(self, config):
                self.config = config

            @alveary.hookimpl
            def alveary_runtimes(self):
                return {"far": object()}
        """,
    )
    config = {
        "plugins": {"enabled": ["remote"], "remote": {"port": "nan"}},
        "pools": [{"name": "p", "runtime": "far"}],
    }
    with pytest.raises(PluginError) as info:
        Orchestrator.from_config(config)
    assert info.value.lines[-1] == (
        "<config>: pools[0].runtime: 'far' is provided by plugin 'remote', "
        "which could not be loaded (see its error)"
    )


# -- alveary_check_config --------------------------------------------------------------------------


class Checker:
    """Says that every pool needs the capability ``ok``, or answers ``answer`` as given."""

    name = "checker"

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer

    @alveary.hookimpl
    def alveary_check_config(self, config: alveary.Config) -> Any:
        if self.answer is not None:
            return self.answer
        return [
            config.source.error(("pools", i, "capabilities"), "every pool needs 'ok'")
            for i, pool in enumerate(config.pools)
            if "ok" not in pool.capabilities
        ]


class Raises:
    name = "raises"

    @alveary.hookimpl
    def alveary_check_config(self) -> list[str]:
        raise RuntimeError("cannot tell")


class Async:
    name = "async"

    @alveary.hookimpl
    async def alveary_check_config(self, config: alveary.Config) -> list[str]:
        return []


def test_plugins_check_the_whole_config_with_lines_in_line_order(tmp_path: Path) -> None:
    path = tmp_path / "alveary.toml"
    path.write_text(
        textwrap.dedent("""\
        [orchestrator]
        store = "nowhere"

        [[pools]]
        name = "a"
        options = { handler = "alveary.testing:echo" }
        """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        Orchestrator(load(path), [Checker()])
    assert info.value.lines == [
        f"{path}:2: orchestrator.store: 'nowhere' is not one of memory",
        f"{path}:4: pools[0].capabilities: every pool needs 'ok'",
    ]


@pytest.mark.parametrize(
    ("plugin", "line"),
    [
        (Raises(), "plugin 'raises': alveary_check_config raised RuntimeError: cannot tell"),
        (Async(), "plugin 'async': alveary_check_config must be a plain function, not async"),
        (
            Checker(answer="one line"),
            "plugin 'checker': alveary_check_config returned 'one line', expected a list of lines",
        ),
        (
            Checker(answer=[1, 2]),
            "plugin 'checker': alveary_check_config returned [1, 2], expected a list of lines",
        ),
    ],
)
def test_a_plugin_check_that_breaks_is_a_problem_of_that_plugin(plugin: object, line: str) -> None:
    assert lines_of({}, plugin) == [line]


def test_a_good_config_passes_the_plugin_checks() -> None:
    pools = [{"name": "a", "capabilities": ["ok"], "options": {"handler": "alveary.testing:echo"}}]
    orch = Orchestrator.from_config({"pools": pools}, [Checker()])
    assert "checker" in orch.plugins
