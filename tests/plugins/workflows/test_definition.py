"""Workflows are checked when they are built: one line per problem, naming the step."""

from __future__ import annotations

from pathlib import Path

import pytest
from alveary import ConfigError
from alveary_workflows import FanOut, Step, Workflow, WorkflowError, dump, load, parse


def steps(*specs: dict[str, object]) -> dict[str, object]:
    return {"name": "w", "steps": list(specs)}


def test_order_is_topological_and_declaration_order_breaks_ties() -> None:
    workflow = Workflow(
        "w",
        [
            Step("report", "k", "{test.value} {lint.value}"),
            Step("lint", "k", after=["build"]),
            Step("build", "k"),
            Step("test", "k", after=["build"]),
        ],
    )
    assert workflow.order == ("build", "lint", "test", "report")


def test_references_add_dependencies() -> None:
    step = Step("b", "k", {"x": ["{a.value.files}", "n={c.state}"]}, fan_out=FanOut("{d.value}"))
    assert step.needs == {"a", "c", "d"}


def test_a_cycle_names_its_steps() -> None:
    with pytest.raises(WorkflowError) as error:
        Workflow(
            "w",
            [Step("a", "k", "{c.value}"), Step("b", "k", after=["a"]), Step("c", "k", after=["b"])],
        )
    assert error.value.lines == ["steps form a cycle: a -> c -> b -> a"]
    assert isinstance(error.value, ConfigError)


def test_a_step_waiting_for_itself_is_a_cycle() -> None:
    with pytest.raises(WorkflowError, match="cycle: a -> a"):
        Workflow("w", [Step("a", "k", after=["a"])])


def test_unknown_steps_and_references_are_each_one_line() -> None:
    with pytest.raises(WorkflowError) as error:
        parse(
            steps(
                {"name": "a", "kind": "k", "after": ["ghost"]},
                {"name": "b", "kind": "k", "payload": {"x": "{nobody.value}", "y": "{a}"}},
                {"name": "c", "kind": "k", "payload": "{item}"},
                {"name": "a", "kind": "k"},
            )
        )
    assert error.value.lines == [
        "step 'a': declared twice",
        "step 'a': waits for unknown step 'ghost'",
        "step 'b': {nobody.value}: no step named 'nobody'",
        "step 'b': {a}: a result has error, state, task_ids, value; say which, e.g. {a.value}",
        "step 'c': {item}: only a fan-out step has an item",
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timeout", float("nan"), "steps[0].timeout: expected a finite number, got nan"),
        ("timeout", -1, "timeout: expected a number > 0"),
        ("max_attempts", 0, "max_attempts"),
        ("priority", "urgent", "priority"),
        ("on_failure", "explode", "on_failure"),
        ("branch_timeout", 0, "branch_timeout: expected a number > 0"),
        ("payload", {"x": float("nan")}, "payload.x: nan is not a JSON number"),
        ("payload", [float("inf")], "payload[0]: inf is not a JSON number"),
        ("fan_out", {"over": "plan.value"}, "fan_out.over: expected one reference"),
        ("fan_out", {"over": "{a.value}", "limit": 0}, "fan_out.limit"),
        ("bogus", 1, "steps[0].bogus: unknown key"),
    ],
)
def test_bad_fields_are_one_line(field: str, value: object, message: str) -> None:
    with pytest.raises(WorkflowError) as error:
        parse(steps({"name": "s", "kind": "k", field: value}, {"name": "a", "kind": "k"}))
    assert any(message in line for line in error.value.lines), error.value.lines
    assert all("\n" not in line for line in error.value.lines)


@pytest.mark.parametrize("name", ["", "item", "index", "a.b"])
def test_reserved_or_dotted_names_are_refused(name: str) -> None:
    with pytest.raises(WorkflowError, match="step name"):
        Workflow("w", [Step(name, "k")])


def test_not_a_table_and_no_steps() -> None:
    with pytest.raises(WorkflowError, match="expected a table"):
        parse(["steps"])  # type: ignore[arg-type]
    with pytest.raises(WorkflowError, match="has no steps"):
        parse({"name": "w", "steps": []})
    with pytest.raises(WorkflowError, match="steps: required key is missing"):
        parse({"name": "w"})


def test_toml_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        """
name = "release"

[[steps]]
name = "plan"
kind = "plan"
payload = {repo = "x", args = ["--force", "$(rm -rf /)", "'\\"quoted\\"'"]}

[[steps]]
name = "build"
kind = "build"
payload = {file = "{item}"}
fan_out = {over = "{plan.value.files}", limit = 4}
requires = ["python"]
on_failure = "continue"
branch_timeout = 60

[[steps]]
name = "report"
kind = "report"
payload = "{build.value}"
pool = "reporters"
""",
        encoding="utf-8",
    )
    workflow = load(path)
    assert workflow.order == ("plan", "build", "report")
    assert workflow.by_name["plan"].payload["args"] == ["--force", "$(rm -rf /)", "'\"quoted\"'"]
    assert parse(dump(workflow)) == workflow


def test_nan_in_toml_is_refused_with_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('name = "w"\n[[steps]]\nname = "a"\nkind = "k"\ntimeout = nan\n')
    with pytest.raises(WorkflowError) as error:
        load(path)
    assert error.value.lines == [f"{path}:5: steps[0].timeout: expected a finite number, got nan"]
    path.write_text('name = "w"\n[[steps]]\nname = "a"\nkind = "k"\npayload = {x = nan}\n')
    with pytest.raises(WorkflowError, match=r"payload\.x: nan is not a JSON number"):
        load(path)


def test_a_problem_of_a_step_names_the_line_of_its_table(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        'name = "w"\n\n[[steps]]\nname = "a"\nkind = "k"\n\n'
        '[[steps]]\nname = "b"\nkind = "k"\nafter = ["zz"]\n'
    )
    with pytest.raises(WorkflowError) as error:
        load(path)
    assert error.value.lines == [f"{path}:7: steps[1]: step 'b': waits for unknown step 'zz'"]
    path.write_text('name = "w"\nsteps = []\n')
    with pytest.raises(WorkflowError) as error:
        load(path)
    assert error.value.lines == [f"{path}: workflow 'w': has no steps"]


def test_files_that_are_no_workflow_file_are_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(WorkflowError, match=r"deep\.toml: nested more than 32 levels deep"):
        load(deep)
    with pytest.raises(WorkflowError, match=r"/dev/zero: not a regular file"):
        load("/dev/zero")  # would be read until memory ran out
    with pytest.raises(WorkflowError, match=r": is a directory"):
        load(tmp_path)


def test_unreadable_files_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match=r"missing\.toml"):
        load(tmp_path / "missing.toml")
    path = tmp_path / "bad.toml"
    path.write_text("name = \n")
    with pytest.raises(WorkflowError, match=r"bad\.toml"):
        load(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(WorkflowError, match=r"bad\.toml"):
        load(path)


def test_estimated_starts_follow_the_longest_path() -> None:
    workflow = Workflow(
        "w",
        [
            Step("a", "slow"),
            Step("b", "fast"),
            Step("c", "fast", after=["a", "b"]),
            Step("d", "other", after=["c"]),
        ],
    )
    starts = workflow.estimate({"slow": 10.0, "fast": 1.0}, default=5.0)
    assert starts == {"a": 0.0, "b": 0.0, "c": 10.0, "d": 11.0}
