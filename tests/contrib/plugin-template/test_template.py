"""The template plugin, enabled through its entry point in a real orchestrator.

Copy this file with the template and make it test what your hooks do.
"""

from __future__ import annotations

from typing import Any

import pytest
from alveary import AgentSpec, Orchestrator, PluginError, Task, TaskSpec
from alveary.testing import orchestrator
from alveary_plugin_template import Template


async def build(task: Task) -> str:
    """A handler that fails the tasks whose payload says so."""
    if task.payload == "broken":
        raise ValueError("does not compile")
    return f"built {task.payload}"


def enabled(**settings: Any) -> dict[str, Any]:
    return {"plugins": {"enabled": ["template"], "template": settings}}


async def test_counts_attempts_of_the_configured_kinds() -> None:
    async with orchestrator(enabled(kinds=["build"])) as orch:
        await orch.register(AgentSpec("builder", {"build", "lint"}, options={"handler": build}))
        done = [
            await orch.submit(TaskSpec("build", "app", requires={"build"})),
            await orch.submit(TaskSpec("build", "broken", requires={"build"}, max_attempts=2)),
            await orch.submit(TaskSpec("lint", "app", requires={"lint"})),
        ]
        outcomes = [await handle.result() for handle in done]
        plugin = orch.plugins["template"]

    assert [o.state.value for o in outcomes] == ["succeeded", "dead", "succeeded"]
    assert isinstance(plugin, Template)
    assert plugin.counts == {("build", "succeeded"): 1, ("build", "failed"): 2}


async def test_without_settings_every_kind_counts() -> None:
    async with orchestrator({"plugins": {"enabled": ["template"]}}) as orch:
        await orch.register(AgentSpec("builder", {"build", "lint"}, options={"handler": build}))
        await (await orch.submit(TaskSpec("lint", "app", requires={"lint"}))).result()
        plugin = orch.plugins["template"]

    assert isinstance(plugin, Template)
    assert plugin.counts == {("lint", "succeeded"): 1}


def test_unknown_settings_stop_start_up() -> None:
    with pytest.raises(PluginError) as info:
        Orchestrator.from_config(enabled(kind=["build"]))
    assert info.value.lines == [
        "<config>: plugins.template.kind: unknown key (did you mean 'kinds'?)"
    ]
