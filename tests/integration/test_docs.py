"""Every code block of README.md and docs/ runs here, or is marked as a fragment.

A block is a fragment when the line before its opening fence is an HTML comment starting with
``<!-- fragment`` (``<!-- fragment: why -->`` says why). Python blocks run as programs in a
temporary directory, with every workspace package installed; TOML blocks must parse; shell and
text blocks are shown, not run (the pages' own tests check what they print).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<language>\w+)\n(?P<code>.*?)\n```", re.DOTALL)


def blocks(language: str) -> list[pytest.param]:  # type: ignore[valid-type]
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match["language"] != language or match["before"].startswith("<!-- fragment"):
                continue
            line = text.count("\n", 0, match.start("code")) + 1
            name = f"{page.relative_to(ROOT)}:{line}"
            found.append(pytest.param(match["code"], id=name))
    return found


def test_the_pages_have_blocks() -> None:
    assert blocks("python")
    assert blocks("toml")


@pytest.mark.parametrize("code", blocks("python"))
def test_python_block_runs(code: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("code", blocks("toml"))
def test_toml_block_parses(code: str) -> None:
    tomllib.loads(code)
