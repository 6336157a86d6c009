"""Where steps run and who may start them: pools, capabilities, security and validation
hooks, and the estimated starts."""

from __future__ import annotations

import json

import pytest
from alveary import AgentSpec, Denied, Rejected, TaskSpec, hookimpl
from alveary.testing import OneToken, orchestrator, until
from alveary_workflows import (
    RunState,
    Step,
    Workflow,
    WorkflowError,
)

from .conftest import ENABLED, Script, agents, plugin


async def test_a_step_runs_on_its_pool_or_on_agents_with_its_capability() -> None:
    script = Script()
    pools = [
        {
            "name": "big",
            "capabilities": ["work"],
            "runtime": "local",
            "size": {"min": 1},
            "options": {"handler": "alveary.testing:echo"},
        },
        {
            "name": "small",
            "capabilities": ["work"],
            "runtime": "local",
            "size": {"min": 1},
            "options": {"handler": "alveary.testing:echo"},
        },
    ]
    workflow = Workflow(
        "w",
        [
            Step("on_small", "work", {"step": "x"}, pool="small"),
            Step("on_big", "work", {"step": "y"}, pool="big", after=["on_small"]),
            Step("gpu", "work", {"step": "z"}, requires={"gpu"}),
        ],
    )
    async with orchestrator({**ENABLED, "pools": pools}) as orch:
        await until(lambda: len([a for a in orch.agents() if a.state.value == "ready"]) == 2)
        await orch.register(AgentSpec("gpu-agent", {"work", "gpu"}, options={"handler": script}))
        result = await (await plugin(orch).start(workflow)).result(timeout=30)
        ran_on = {
            n: orch.agent(orch.get_task(s.task_ids[0]).agent_id or "").pool
            for n, s in result.steps.items()
            if n != "gpu"
        }
        gpu = orch.get_task(result.steps["gpu"].task_ids[0]).agent_id
        assert gpu is not None
        assert orch.agent(gpu).spec.name == "gpu-agent"
        with pytest.raises(WorkflowError, match="pool 'nowhere' is not declared"):
            await plugin(orch).start(Workflow("w", [Step("a", "work", pool="nowhere")]))
    assert ran_on == {"on_small": "small", "on_big": "big"}


async def test_submissions_go_through_security() -> None:
    config = {"plugins": {"enabled": ["workflows"]}}
    workflow = Workflow("w", [Step("a", "work", {"step": "a"})])
    script = Script()
    async with orchestrator(config, OneToken("s3cret")) as orch:
        good = {"authorization": "Bearer s3cret"}
        await orch.register(AgentSpec("a", {"work"}, options={"handler": script}), credentials=good)
        with pytest.raises(Denied):
            await plugin(orch).start(workflow, credentials={"authorization": "Bearer $(guess)"})
        allowed = await (await plugin(orch).start(workflow, credentials=good)).result(timeout=30)
    assert allowed.state is RunState.SUCCEEDED
    assert len(plugin(orch).runs) == 1  # the refused one never started


class NoShell:
    """Refuses tasks whose payload holds a command substitution."""

    @hookimpl
    def alveary_task_validate(self, spec: TaskSpec) -> None:
        if "$(" in json.dumps(spec.payload):
            raise Rejected("payload holds a command substitution")


async def test_a_step_the_validation_hooks_refuse_fails_with_the_reason() -> None:
    script = Script()
    workflow = Workflow(
        "w",
        [
            Step("a", "work", {"step": "a", "value": "x"}),
            Step("b", "work", {"step": "b", "cmd": "run {a.value} $(reboot)"}),
        ],
    )
    async with orchestrator(ENABLED, NoShell()) as orch:
        await agents(orch, script)
        result = await (await plugin(orch).start(workflow)).result(timeout=30)
    assert result.state is RunState.FAILED
    assert result.steps["b"].error == "not submitted: NoShell: payload holds a command substitution"
    assert result.steps["b"].task_ids == ()


async def test_estimated_starts_come_from_measured_durations() -> None:
    script = Script()
    async with orchestrator(ENABLED) as orch:
        await agents(orch, script)
        first = await plugin(orch).start(Workflow("w", [Step("a", "work", {"step": "a"})]))
        await first.result(timeout=30)
        assert set(plugin(orch).durations()) == {"work"}
        run = await plugin(orch).start(
            Workflow("w", [Step("a", "work", {"step": "a"}), Step("b", "work", after=["a"])])
        )
        await run.result(timeout=30)
    assert run.estimates["b"] >= run.estimates["a"]
    assert run.snapshot().steps["b"].estimated_start == run.estimates["b"]
    assert plugin  # the plugin is reachable by name
