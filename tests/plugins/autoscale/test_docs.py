"""Every code block of docs/plugins/autoscale.md runs here, or is marked as a fragment."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

import pytest
from alveary import Orchestrator
from alveary_autoscale import Autoscale, Policy, Scaler

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "autoscale.md"
BLOCK = re.compile(r"(<!-- fragment -->\n)?```(\w+)\n(.*?)```", re.DOTALL)
BLOCKS = [
    (language, text)
    for fragment, language, text in BLOCK.findall(DOCS.read_text(encoding="utf-8"))
    if not fragment
]


def blocks(language: str) -> list[str]:
    return [text for found, text in BLOCKS if found == language]


def test_every_block_is_run_here_or_marked_as_a_fragment() -> None:
    assert {language for language, _ in BLOCKS} <= {"toml", "json", "python"}


@pytest.mark.parametrize("more", ["", *blocks("toml")[1:]])
def test_the_configuration_and_the_rules_added_to_it_are_valid(more: str) -> None:
    """The first example is a whole configuration; the later ones add rules to it. (The
    burst tests run the first one, with a handler of their own.)"""
    data = tomllib.loads(blocks("toml")[0] + more)
    assert data["pools"][0]["options"]["handler"] == "mypkg.agents:review"
    data["pools"][0]["options"]["handler"] = "alveary.testing:echo"
    plugin = Orchestrator.from_config(data).plugins["autoscale"]
    assert isinstance(plugin, Autoscale)
    assert plugin.config.pools["reviewers"].rules


def test_the_decision_event_has_the_shape_the_plugin_emits() -> None:
    (text,) = blocks("json")
    event = json.loads(text)
    decision = Scaler("reviewers", Policy()).decide(4, 2, 40, dict(event["data"]["inputs"]), 0.0)
    assert event["type"] == "autoscale.decision"
    assert event["data"].keys() == decision.data().keys()
    assert event["data"]["proposals"] == decision.proposals
    assert (event["data"]["from"], event["data"]["to"]) == (decision.size, decision.target)


def test_the_simulation_example_runs() -> None:
    (text,) = blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(text, str(DOCS), "exec"), {})
    assert "agent_hours" in out.getvalue()
