"""Runs on a real orchestrator with real local agents: results flow between steps, fan-out
and fan-in, failure policies, branch timeouts, pools, cancellation, events, security."""

from __future__ import annotations

from alveary.testing import EventRecorder, orchestrator, until
from alveary_workflows import (
    FanOut,
    OnFailure,
    RunState,
    Step,
    StepState,
    Workflow,
    parse,
)

from .conftest import ENABLED, Script, agents, plugin


async def test_results_flow_keep_types_and_format_into_text() -> None:
    script = Script()
    workflow = Workflow(
        "w",
        [
            Step("plan", "work", {"step": "plan", "value": {"files": ["a.py", "b c"], "n": 2}}),
            Step(
                "use",
                "work",
                {
                    "step": "use",
                    "value": {"files": "{plan.value.files}", "text": "n={plan.value.n} {{plan}}"},
                },
            ),
        ],
    )
    async with orchestrator(ENABLED) as orch:
        await agents(orch, script)
        result = await (await plugin(orch).start(workflow)).result(timeout=30)
    assert result.state is RunState.SUCCEEDED
    assert result.values["use"] == {"files": ["a.py", "b c"], "text": "n=2 {plan}"}
    assert len(result.steps["plan"].task_ids) == 1


async def test_hostile_text_is_passed_as_data_never_run() -> None:
    hostile = ["--rm", "-rf", "$(touch pwned)", "`id`", "'; drop table x; --", '"\\"', "{{x}}"]
    script = Script()
    workflow = Workflow(
        "w",
        [
            Step("a", "work", {"step": "a", "value": hostile}),
            Step("b", "work", {"step": "b", "value": ["{a.value}", "x {a.value.2} y"]}),
        ],
    )
    async with orchestrator(ENABLED) as orch:
        await agents(orch, script)
        result = await (await plugin(orch).start(workflow)).result(timeout=30)
    sent = [*hostile[:-1], "{x}"]  # {{x}} is the escape for a literal {x}
    assert result.values["a"] == sent
    assert result.values["b"] == [sent, "x $(touch pwned) y"]


async def test_fan_out_and_gather_with_a_limit() -> None:
    script = Script()
    items = [{"step": f"item{i}", "value": i * i} for i in range(12)]
    workflow = parse(
        {
            "name": "w",
            "steps": [
                {"name": "plan", "kind": "work", "payload": {"step": "plan", "value": items}},
                {
                    "name": "each",
                    "kind": "work",
                    "payload": "{item}",
                    "fan_out": {"over": "{plan.value}", "limit": 3},
                },
                {
                    "name": "sum",
                    "kind": "work",
                    "payload": {"step": "sum", "value": "{each.value}"},
                },
            ],
        }
    )
    recorder = EventRecorder()
    async with orchestrator(ENABLED, recorder) as orch:
        await agents(orch, script)
        run = await plugin(orch).start(workflow)
        result = await run.result(timeout=30)
    assert result.state is RunState.SUCCEEDED
    assert result.values["sum"] == [i * i for i in range(12)]
    assert len(result.steps["each"].task_ids) == 12
    running, most = 0, 0
    ids = set(result.steps["each"].task_ids)
    for event in recorder.events:
        if event.task_id in ids and event.type == "task.running":
            running += 1
        elif event.task_id in ids and event.type == "task.succeeded":
            running -= 1
        most = max(most, running)
    assert 1 <= most <= 3


async def test_fan_out_over_a_non_list_or_a_huge_list_fails_the_step() -> None:
    script = Script()
    huge = list(range(100_000))
    workflow = Workflow(
        "w",
        [
            Step("plan", "work", {"step": "plan", "value": {"one": "x", "huge": huge}}),
            Step(
                "one", "work", "{item}", fan_out=FanOut("{plan.value.one}"), on_failure="continue"
            ),
            Step(
                "many", "work", "{item}", fan_out=FanOut("{plan.value.huge}"), on_failure="continue"
            ),
            Step(
                "missing",
                "work",
                "{item}",
                fan_out=FanOut("{plan.value.nope}"),
                on_failure="continue",
            ),
        ],
    )
    async with orchestrator(ENABLED) as orch:
        await agents(orch, script)
        result = await (await plugin(orch).start(workflow)).result(timeout=60)
        assert len(orch.tasks()) == 1  # nothing was submitted for the three
    assert result.state is RunState.FAILED
    assert result.steps["one"].error == "fan_out.over {plan.value.one}: expected a list, got a str"
    assert result.steps["many"].error == (
        "fan_out.over {plan.value.huge}: 100000 items, over the limit of 10000"
    )
    assert result.steps["missing"].error == (
        "fan_out.over {plan.value.nope}: no key 'nope' in a mapping with keys [huge, one]"
    )


async def test_a_reference_into_a_missing_field_fails_only_that_step() -> None:
    script = Script()
    workflow = Workflow(
        "w",
        [
            Step("a", "work", {"step": "a", "value": [1, 2]}),
            Step("b", "work", "{a.value.5}", on_failure="skip"),
            Step("c", "work", "{a.value.0.x}", on_failure="skip"),
            Step("after_b", "work", after=["b"]),
            Step("d", "work", {"step": "d"}),
        ],
    )
    async with orchestrator(ENABLED) as orch:
        await agents(orch, script)
        result = await (await plugin(orch).start(workflow)).result(timeout=30)
    assert result.state is RunState.SUCCEEDED  # skip tolerates the failure
    assert result.steps["b"].error == "payload {a.value.5}: no index '5' in a list of 2"
    assert result.steps["c"].error == "payload {a.value.0.x}: cannot take 'x' of a int"
    assert result.steps["after_b"].state is StepState.SKIPPED
    assert result.steps["d"].state is StepState.SUCCEEDED


async def test_fail_cancels_running_steps_and_never_starts_the_rest() -> None:
    script = Script()
    workflow = Workflow(
        "w",
        [
            Step("slow", "work", {"step": "slow", "hang": True}),
            Step("bad", "work", {"step": "bad", "fatal": True}),
            Step("later", "work", {"step": "later"}, after=["slow"]),
        ],
    )
    async with orchestrator(ENABLED) as orch:
        await agents(orch, script)
        await until(lambda: len(orch.agents()) == 2)
        result = await (await plugin(orch).start(workflow)).result(timeout=30)
        slow_task = orch.get_task(result.steps["slow"].task_ids[0])
        assert slow_task.state.value == "cancelled"
    assert result.state is RunState.FAILED
    assert result.steps["bad"].state is StepState.FAILED
    assert "failed for good" in (result.steps["bad"].error or "")
    assert result.steps["slow"].state is StepState.CANCELLED
    assert result.steps["later"].state is StepState.CANCELLED
    assert "later" not in script.started


async def test_continue_runs_the_other_branches_and_fails_the_run() -> None:
    script = Script()
    workflow = Workflow(
        "w",
        [
            Step(
                "bad", "work", {"step": "bad", "fail": True}, max_attempts=2, on_failure="continue"
            ),
            Step("child", "work", {"step": "child"}, after=["bad"]),
            Step("other", "work", {"step": "other"}),
            Step("other2", "work", {"step": "other2"}, after=["other"]),
        ],
    )
    async with orchestrator(ENABLED) as orch:
        await agents(orch, script)
        result = await (await plugin(orch).start(workflow)).result(timeout=30)
    assert result.state is RunState.FAILED
    assert script.started.count("bad") == 2  # its attempt budget, no more
    assert result.steps["child"].state is StepState.SKIPPED
    assert result.steps["other2"].state is StepState.SUCCEEDED


async def test_a_branch_timeout_fails_the_step_and_cancels_its_task() -> None:
    script = Script()
    workflow = Workflow(
        "w",
        [
            Step(
                "hang",
                "work",
                {"step": "hang", "hang": True},
                branch_timeout=0.2,
                on_failure=OnFailure.SKIP,
            )
        ],
    )
    async with orchestrator(ENABLED) as orch:
        await agents(orch, script)
        result = await (await plugin(orch).start(workflow)).result(timeout=30)
        task = orch.get_task(result.steps["hang"].task_ids[0])
        await until(lambda: task.state.terminal)
    assert result.steps["hang"].error == "branch timeout of 0.2 s"
    assert result.state is RunState.SUCCEEDED
    assert task.state.value == "cancelled"


async def test_cancel_cancels_running_steps_and_ends_once() -> None:
    script = Script()
    recorder = EventRecorder()
    workflow = Workflow(
        "w",
        [
            Step("hang", "work", {"step": "hang", "hang": True}),
            Step("next", "work", after=["hang"]),
        ],
    )
    async with orchestrator(ENABLED, recorder) as orch:
        await agents(orch, script)
        run = await plugin(orch).start(workflow)
        await until(lambda: "hang" in script.started)
        assert await run.cancel()
        assert not await run.cancel()
        result = await run.result(timeout=30)
        await until(lambda: "hang" in script.cancelled)
    assert result.state is RunState.CANCELLED
    assert {s.state for s in result.steps.values()} == {StepState.CANCELLED}
    finished = recorder.of("workflow.finished", run=run.id)
    assert [e.data["state"] for e in finished] == ["cancelled"]
    assert recorder.of("workflow.started", run=run.id)
    steps = [(e.data["step"], e.data["state"]) for e in recorder.of("workflow.step", run=run.id)]
    assert ("hang", "running") in steps
    assert ("hang", "cancelled") in steps
