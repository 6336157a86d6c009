"""``alveary init``: a starter config that ``alveary check`` accepts, for whichever plugins
are installed, and never written over an existing file without ``--force``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from alveary._catalog import installed
from alveary._cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


def test_init_writes_a_config_that_check_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no CLI tool to find
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert capsys.readouterr().out.startswith("wrote alveary.toml (plugins: ")
    text = (tmp_path / "alveary.toml").read_text()
    config = tomllib.loads(text)
    have = installed()
    for plugin, package in [("state", "alveary-state"), ("gateway", "alveary-gateway")]:
        if plugin in have:
            assert plugin in config["plugins"]["enabled"]
        else:
            assert f"# not installed: pip install {package}" in text
    assert config["orchestrator"]["store"] == ("sqlite" if "state" in have else "memory")
    assert [p["name"] for p in config["pools"]] == ["local"]
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith("alveary.toml: ok (")


def test_init_never_overwrites_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "alveary.toml"
    target.write_text("# mine\n")
    assert main(["init", str(tmp_path)]) == 2  # a directory: its alveary.toml
    assert capsys.readouterr().err == f"alveary init: {target} exists; --force overwrites it\n"
    assert target.read_text() == "# mine\n"
    assert main(["init", str(target), "--force"]) == 0
    assert target.read_text().startswith("# alveary.toml, written by `alveary init`")


@pytest.mark.parametrize("name", ["missing/alveary.toml", "-rf.toml", "$(id).toml"])
def test_init_takes_any_path_and_says_in_one_line_when_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    status = main(["init", "--", name])
    err = capsys.readouterr().err
    if name.startswith("missing/"):
        assert status == 2
        assert err == f"alveary init: cannot write {name}: No such file or directory\n"
    else:
        assert (status, err) == (0, "")
        assert (tmp_path / name).is_file()
