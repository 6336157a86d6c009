"""The hook reference: docs/hooks.md is what the specs generate, and every spec tells a plugin
author what to return and what happens when the hook raises."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alveary import _hookdocs, hookspecs
from alveary._hooks import HOOK_NAMES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def specs() -> dict[str, Callable[..., Any]]:
    """Every function of ``alveary.hookspecs`` marked ``@hookspec``."""
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and getattr(fn, "alveary_spec", None) is not None
    }


def test_docs_hooks_md_is_up_to_date() -> None:
    assert DOCS.read_text(encoding="utf-8") == _hookdocs.render(), (
        "docs/hooks.md is stale: run python -m alveary._hookdocs"
    )


def test_every_spec_is_documented_in_source_order() -> None:
    headings = re.findall(r"^### `(alveary_\w+)\(", _hookdocs.render(), re.MULTILINE)
    assert headings == list(HOOK_NAMES)
    assert set(headings) == set(specs())


def test_every_spec_name_starts_with_alveary() -> None:
    assert specs()
    for name in specs():
        assert name.startswith("alveary_"), name


@pytest.mark.parametrize("name", list(specs()))
def test_every_spec_says_what_it_returns_and_what_raising_does(name: str) -> None:
    doc = inspect.getdoc(specs()[name]) or ""
    assert re.search(r"\breturn", doc, re.IGNORECASE), f"{name}: say what to return"
    assert re.search(r"\braises?\b", doc, re.IGNORECASE), f"{name}: say what raising does"


def test_the_signature_is_rendered_as_written() -> None:
    assert (
        _hookdocs.signature(hookspecs.alveary_route_score)
        == "alveary_route_score(task: Task, agent: Agent) -> float | None"
    )
    assert "`firstresult`" in _hookdocs.render().split("### `alveary_scale(")[1].split("###")[0]


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "hooks.md"
    stale.write_text("# Hook reference\n", encoding="utf-8")
    assert _hookdocs.main(["--check", "--output", str(stale)]) == 1
    assert _hookdocs.main(["--output", str(stale)]) == 0
    assert _hookdocs.main(["--check", "--output", str(stale)]) == 0
