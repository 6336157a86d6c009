"""docs/plugins/ray.md as printed: every TOML block builds an orchestrator, and its pool runs
the page's agent module on the session's cluster."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import alveary
import pytest
from alveary import TaskSpec
from alveary.testing import orchestrator, until

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PAGE = (Path(__file__).parents[3] / "docs" / "plugins" / "ray.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^(<!-- fragment[^\n]*\n)?```(\w+)\n(.*?)^```", re.S | re.M)
BLOCKS = [(m.group(2), m.group(3), bool(m.group(1))) for m in BLOCK.finditer(PAGE)]
CONFIGS = [text for lang, text, _ in BLOCKS if lang == "toml"]
[AGENT] = [text for lang, text, _ in BLOCKS if lang == "python"]


@pytest.mark.parametrize("text", CONFIGS)
def test_each_config_on_the_page_builds_an_orchestrator(text: str) -> None:
    alveary.Orchestrator.from_config(tomllib.loads(text))


def test_the_python_blocks_are_fragments_run_below() -> None:
    assert len(CONFIGS) == 2
    assert all(fragment for lang, _, fragment in BLOCKS if lang == "python")


async def test_the_pool_runs_the_agent_on_the_page(tmp_path: Path) -> None:
    (tmp_path / "reviewer.py").write_text(AGENT, encoding="utf-8")
    config = tomllib.loads(CONFIGS[0])
    [spec] = config["pools"]
    # on this one-machine cluster: no custom resources, the module shipped by runtime_env
    spec["size"] = {"min": 1, "max": 1}
    spec["options"] = {
        "handler": spec["options"]["handler"],
        "num_cpus": 0,
        "runtime_env": {"env_vars": {"PYTHONPATH": str(tmp_path)}},
    }
    async with orchestrator(config) as orch:  # enabled by its entry point
        await until(lambda: len(orch.agents()) == 1, timeout=120)
        handle = await orch.submit(TaskSpec("review", "TODO: tests", requires={"review"}))
        outcome = await handle.result(timeout=120)
    assert outcome.value == {"ok": False, "attempt": 1}
