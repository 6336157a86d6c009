"""Commands that installed packages add to ``alveary`` through the ``alveary.cli`` entry-point
group, found the way pip leaves them, and what starting the command costs: ``--version`` must
not import the kernel's dependencies."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from alveary import _commands
from alveary._cli import main

COMMANDS = """
def greet(argv):
    print("hello", *argv)
    return 3 if "--fail" in argv else 0


def wave(argv):
    \"\"\"Wave at whoever is named.

    Nobody, without a name.\"\"\"
    return 0
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution ``alveary-greeter`` adding ``greet``, a broken ``oops`` and a ``run``
    that the built-in command of that name shadows."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "alveary_test_greeter.py").write_text(COMMANDS)
    info = root / "alveary_greeter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: alveary-greeter\nVersion: 1.0\nSummary: say hello\n"
    )
    (info / "entry_points.txt").write_text(
        "[alveary.cli]\n"
        "greet = alveary_test_greeter:greet\n"
        "wave = alveary_test_greeter:wave\n"
        "oops = alveary_test_greeter_missing:run\n"
        "run = alveary_test_greeter:greet\n"
    )
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    sys.modules.pop("alveary_test_greeter", None)


def test_help_lists_an_installed_command_with_its_summary(installed, capsys) -> None:
    """The first line of the function's docstring, read without importing it; without one
    (or without the module), the package's summary."""
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["wave", "wave", "at", "whoever", "is", "named"] in lines
    assert ["greet", "say", "hello"] in lines
    assert ["oops", "say", "hello"] in lines
    assert "alveary_test_greeter" not in sys.modules, "listing a command must not import it"


def test_a_command_gets_every_argument_after_its_name(installed, capsys) -> None:
    assert main(["--log-level", "error", "greet", "world", "--loud", "--", "-x"]) == 0
    assert capsys.readouterr().out == "hello world --loud -- -x\n"
    assert main(["greet", "--help"]) == 0
    assert capsys.readouterr().out == "hello --help\n"
    assert main(["greet", "--fail"]) == 3


def test_only_the_command_that_runs_is_imported(installed, capsys, tmp_path) -> None:
    (tmp_path / "alveary.toml").write_text("")
    assert main(["check", "--config", str(tmp_path / "alveary.toml")]) == 0
    assert "alveary_test_greeter" not in sys.modules
    assert main(["greet"]) == 0
    assert "alveary_test_greeter" in sys.modules


def test_a_built_in_command_wins_over_an_installed_one_of_the_same_name(installed) -> None:
    assert _commands.installed_commands().keys().isdisjoint(_commands.BUILTIN)
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "alveary_test_greeter" not in sys.modules


def test_a_command_that_cannot_load_is_one_line(installed, capsys) -> None:
    assert main(["oops", "now"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alveary oops: cannot load alveary_test_greeter_missing:run: ")
    assert len(err.splitlines()) == 1


def test_a_known_command_whose_package_is_missing_says_what_to_install(
    capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(_commands.KNOWN, "fly", "alveary-fly")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "not installed: pip install alveary-fly" in capsys.readouterr().out
    assert main(["fly", "--fast"]) == 2
    assert capsys.readouterr().err == "alveary fly: not installed; pip install alveary-fly\n"


def test_python_dash_m_alveary_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alveary", "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "local" in {row["name"] for row in json.loads(done.stdout)}


# -- what starting the command costs ----------------------------------------------------------

HEAVY = ("pluggy", "cattrs", "structlog", "stevedore", "attrs", "importlib.metadata")
"""The kernel's dependencies, and the standard library's slowest import on the way."""

PROBE = textwrap.dedent(
    """\
    import contextlib, io, json, sys
    import alveary
    package = set(sys.modules)
    from alveary._cli import main
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(["--version"])
        except SystemExit:
            pass
    print(json.dumps({"out": out.getvalue(), "package": sorted(package),
                      "after": sorted(sys.modules)}))
    """
)


@pytest.fixture(scope="module")
def version_probe() -> dict[str, list[str]]:
    """What ``import alveary`` alone loads, and what is loaded once ``--version`` ran."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def test_version_loads_nothing_heavy_of_its_own(version_probe) -> None:
    assert version_probe["out"].startswith("alveary ")
    added = set(version_probe["after"]) - set(version_probe["package"])
    assert [m for m in HEAVY if m in added] == []


def test_version_loads_none_of_the_kernels_dependencies(version_probe) -> None:
    assert [m for m in HEAVY if m in version_probe["after"]] == []


PLUGINS = 'enabled = ["gateway"]\ndisabled = ["least-loaded"]\n'
CONFIGS = {
    "none": None,
    "alveary.toml": "[plugins]\n" + PLUGINS,
    "pyproject.toml": "[tool.alveary.plugins]\n" + PLUGINS,
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_listing_plugins_loads_no_logging_no_plugin_and_no_converter(
    config: str, tmp_path: Path
) -> None:
    """``alveary plugins`` logs nothing, reads entry points, and reads a config's
    ``[plugins]`` table alone: neither structlog (with rich behind it), nor the machinery
    that calls hooks, nor the converter a whole config needs is imported for it."""
    if CONFIGS[config] is not None:
        (tmp_path / config).write_text(CONFIGS[config])
    probe = textwrap.dedent(
        """\
        import contextlib, io, json, sys
        from alveary._cli import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            status = main(["plugins", "--json"])
        print(json.dumps({"status": status, "rows": json.loads(out.getvalue()),
                          "after": sorted(sys.modules)}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    result = json.loads(done.stdout)
    assert result["status"] == 0
    loaded = set(result["after"])
    assert {"structlog", "alveary._isolation", "alveary_gateway"} & loaded == set()
    assert {"attrs", "cattrs", "pluggy", "stevedore"} & loaded == set()
    enabled = {row["name"] for row in result["rows"] if row["enabled"]}
    if config == "none":
        assert enabled == {"local", "memory", "least-loaded"}
    else:  # the gateway is listed where it is installed
        installed = {row["name"] for row in result["rows"]}
        assert enabled == {"local", "memory"} | ({"gateway"} & installed)


def test_a_plugins_table_the_listing_cannot_read_is_reported_by_the_whole_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[plugins]\nenabled = "gateway"\n')
    assert main(["plugins", "--config", str(bad)]) == 2
    assert capsys.readouterr().err == f"{bad}:2: plugins.enabled: expected a list of plugin names\n"
