"""Random DAGs on a real orchestrator: random shapes, policies, failures, retries and
cancellations. Whatever happens, a step starts only after every step it needs succeeded,
never more often than its attempt budget, and the run ends in exactly one terminal state."""

from __future__ import annotations

import asyncio
from typing import Any

from alveary import AgentSpec
from alveary.testing import EventRecorder, orchestrator, until
from alveary_workflows import OnFailure, RunState, Step, StepState, Workflow, Workflows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Script

BEHAVIOURS = ["ok", "ok", "ok", "fail", "fatal", "cancel"]


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[Step], bool]:
    count = draw(st.integers(1, 8))
    steps = []
    for i in range(count):
        needs = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        behaviour = draw(st.sampled_from(BEHAVIOURS))
        payload: dict[str, Any] = {"step": f"s{i}"}
        if behaviour != "ok":  # "fail" uses up its attempt budget; "fatal" ends at once
            payload[behaviour] = True
        refs = sorted(needs)
        if refs and draw(st.booleans()):  # half the dependencies come from references
            payload["from"] = [f"{{s{n}.state}}" for n in refs]
            refs = []
        steps.append(
            Step(
                f"s{i}",
                "work",
                payload,
                after=[f"s{n}" for n in refs],
                max_attempts=draw(st.integers(1, 3)),
                on_failure=draw(st.sampled_from(list(OnFailure))),
            )
        )
    return steps, draw(st.booleans())


async def run_one(steps: list[Step], cancel: bool) -> None:
    workflow = Workflow("random", steps)
    script = Script()
    script.needs = {step.name: step.needs for step in steps}
    recorder = EventRecorder()
    async with orchestrator({"plugins": {"enabled": ["workflows"]}}, recorder) as orch:
        script.host = orch
        for i in range(2):
            await orch.register(
                AgentSpec(f"a{i}", {"work"}, capacity=3, options={"handler": script})
            )
        workflows = orch.plugins["workflows"]
        assert isinstance(workflows, Workflows)
        run = await workflows.start(workflow)
        if cancel:
            await until(lambda: script.started or run.done(), timeout=30)
            await run.cancel()
        result = await run.result(timeout=60)
        await asyncio.sleep(0.05)  # let anything wrongly started show itself
        finished = recorder.of("workflow.finished", run=run.id)
        for step in result.steps.values():
            for task_id in step.task_ids:
                await until(lambda t=task_id: orch.get_task(t).state.terminal, timeout=30)

    assert script.violations == []
    for step in steps:
        assert script.started.count(step.name) <= step.max_attempts, step.name
    assert result.state.terminal
    assert [e.data["state"] for e in finished] == [result.state.value]
    assert all(s.state.terminal for s in result.steps.values())
    for step in steps:
        state = result.steps[step.name].state
        if state is StepState.SUCCEEDED:
            assert all(result.steps[n].state is StepState.SUCCEEDED for n in step.needs)
        if state is StepState.SKIPPED:
            assert any(result.steps[n].state is not StepState.SUCCEEDED for n in step.needs)
        if state in (StepState.PENDING, StepState.SKIPPED):
            assert step.name not in script.started
    if result.state is RunState.SUCCEEDED:
        for step in steps:
            state = result.steps[step.name].state
            assert state in (StepState.SUCCEEDED, StepState.SKIPPED) or (
                step.on_failure is OnFailure.SKIP
            )
    fatal = [
        s
        for s in steps
        if s.on_failure is OnFailure.FAIL and result.steps[s.name].state in (StepState.FAILED,)
    ]
    if fatal and not cancel:
        assert result.state is RunState.FAILED


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dags_keep_their_invariants(case: tuple[list[Step], bool]) -> None:
    asyncio.run(run_one(*case))
