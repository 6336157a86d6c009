"""The configuration in docs/plugins/subprocess.md is valid as printed: every TOML block, and
the pool that ``alveary agents detect`` is shown printing, builds an orchestrator. Python
blocks that need tools this machine may lack are marked ``<!-- fragment -->``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import alveary
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PAGE = (Path(__file__).parents[3] / "docs" / "plugins" / "subprocess.md").read_text()
BLOCK = re.compile(r"^(<!-- fragment -->\n)?```(\w+)\n(.*?)^```", re.S | re.M)
BLOCKS = [(m.group(2), m.group(3), bool(m.group(1))) for m in BLOCK.finditer(PAGE)]
CONFIGS = [text for lang, text, _ in BLOCKS if lang == "toml"] + [
    "\n".join(line for line in text.splitlines() if not line.startswith(("$", "#")))
    for lang, text, _ in BLOCKS
    if lang == "text" and "[[pools]]" in text
]


@pytest.mark.parametrize("text", CONFIGS)
def test_each_config_on_the_page_builds_an_orchestrator(text: str) -> None:
    data = tomllib.loads(text)
    data.setdefault("plugins", {}).setdefault("enabled", ["subprocess"])
    alveary.Orchestrator.from_config(data)


def test_python_blocks_are_marked_as_fragments() -> None:
    assert len(CONFIGS) == 4
    assert all(fragment for lang, _, fragment in BLOCKS if lang == "python")
