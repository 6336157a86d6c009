"""Records and the converter: every record survives a trip through JSON, and structuring is
strict where TOML and JSON are precise."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from alveary import (
    Agent,
    AgentSpec,
    AgentState,
    Event,
    HealthStatus,
    Outcome,
    Principal,
    Priority,
    Task,
    TaskSpec,
    TaskState,
)
from alveary._converter import iter_errors, structure, unstructure
from cattrs.errors import ClassValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

ROUND_TRIP = settings(max_examples=60, deadline=None)

# a name has something in it, and every character of it prints
names = st.text(
    st.characters(categories=("L", "M", "N", "P", "S")) | st.just(" "), min_size=1, max_size=12
).filter(str.strip)
optional_names = st.none() | names
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=3)
labels = st.dictionaries(names, st.text(max_size=8), max_size=3)
floats = st.floats(allow_nan=False, allow_infinity=False)
metrics = st.dictionaries(names, st.floats(min_value=0, max_value=1), max_size=3)
sets = st.frozensets(names, max_size=4)

agent_specs = st.builds(
    AgentSpec,
    name=names,
    capabilities=sets,
    capacity=st.integers(min_value=1, max_value=1000),
    runtime=names,
    options=json_objects,
    labels=labels,
    skills=metrics,
)
task_specs = st.builds(
    TaskSpec,
    kind=names,
    payload=json_values,
    requires=sets,
    priority=st.sampled_from(Priority),
    timeout=st.floats(min_value=0.001, max_value=1e6),
    max_attempts=st.integers(min_value=1, max_value=100),
    idempotency_key=optional_names,
    affinity_key=optional_names,
    labels=labels,
)
outcomes = st.builds(
    Outcome,
    state=st.sampled_from(TaskState),
    value=json_values,
    error=optional_names,
    agent_id=optional_names,
    attempts=st.integers(min_value=0, max_value=100),
    retry=st.booleans(),
)
tasks = st.builds(
    Task,
    id=names,
    spec=task_specs,
    state=st.sampled_from(TaskState),
    attempts=st.integers(min_value=0, max_value=100),
    agent_id=optional_names,
    submitted=floats,
    times=st.dictionaries(st.sampled_from([s.value for s in TaskState]), floats, max_size=3),
    outcome=st.none() | outcomes,
    principal=optional_names,
)
agents = st.builds(
    Agent,
    id=names,
    spec=agent_specs,
    state=st.sampled_from(AgentState),
    in_flight=st.integers(min_value=0, max_value=1000),
    heartbeat=floats,
    pool=optional_names,
    health=st.sampled_from(HealthStatus),
    metrics=metrics,
)
events = st.builds(
    Event,
    type=names,
    time=floats,
    seq=st.integers(min_value=0),
    task_id=optional_names,
    agent_id=optional_names,
    data=json_objects,
)
principals = st.builds(Principal, id=names, roles=sets)


def through_json(record: Any) -> tuple[Any, Any]:
    """Unstructure ``record``, send it through JSON text, structure it back; return the
    unstructured form and the new record."""
    data = unstructure(record)
    return data, structure(json.loads(json.dumps(data)), type(record))


@ROUND_TRIP
@given(st.one_of(agent_specs, task_specs, outcomes, events, principals))
def test_frozen_records_round_trip_through_json(record: Any) -> None:
    data, again = through_json(record)
    assert again == record
    assert unstructure(again) == data


@ROUND_TRIP
@given(st.one_of(agents, tasks))
def test_mutable_records_round_trip_through_json(record: Agent | Task) -> None:
    """``Agent`` and ``Task`` compare by identity, so compare what they unstructure to, and
    check the states come back as enums the kernel can use."""
    data, again = through_json(record)
    assert again is not record
    assert unstructure(again) == data
    assert type(again.state) is type(record.state)
    if isinstance(again, Task):
        assert again.state.terminal == record.state.terminal
        assert again.spec == record.spec
        assert again.outcome == record.outcome
    else:
        assert again.health is record.health
        assert again.spec == record.spec


def test_unstructured_records_are_plain_json_data() -> None:
    task = Task(
        "t1",
        TaskSpec("review", {"pr": 7}, requires={"b", "a"}, priority="high"),
        state=TaskState.RUNNING,
        outcome=Outcome(TaskState.FAILED, error="boom"),
    )
    data = unstructure(task)
    assert data["state"] == "running"
    assert type(data["state"]) is str
    assert data["spec"]["priority"] == "high"
    assert data["spec"]["requires"] == ["a", "b"]
    assert data["outcome"]["state"] == "failed"
    agent = Agent("a1", AgentSpec("x"), AgentState.BUSY, health=HealthStatus.DEGRADED)
    assert unstructure(agent)["state"] == "busy"
    assert unstructure(agent)["health"] == 1


# -- priority ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_as", "expected"),
    [
        ("high", Priority.HIGH),
        ("CRITICAL", Priority.CRITICAL),
        ("Low", Priority.LOW),
        (0, Priority.LOW),
        (3, Priority.CRITICAL),
        (Priority.MEDIUM, Priority.MEDIUM),
    ],
)
def test_priority_accepts_names_and_numbers(given_as: Any, expected: Priority) -> None:
    assert TaskSpec("k", priority=given_as).priority is expected
    assert structure({"kind": "k", "priority": given_as}, TaskSpec).priority is expected


def test_an_unknown_priority_is_refused_with_the_choices() -> None:
    choices = "expected one of low, medium, high, critical (or 0 to 3), got 'urgent'"
    with pytest.raises(ValueError, match=rf"^priority: {re.escape(choices)}$"):
        TaskSpec("k", priority="urgent")
    with pytest.raises(ClassValidationError) as info:
        structure({"kind": "k", "priority": "urgent"}, TaskSpec)
    assert list(iter_errors(info.value)) == [(("priority",), choices)]


@pytest.mark.parametrize("garbage", [7, -1, 2.5, True, None, [1], {"a": 1}, "", float("nan")])
def test_priority_garbage_is_refused_in_a_sentence(garbage: Any) -> None:
    with pytest.raises(ValueError, match=r"^priority: expected one of low, .* got "):
        TaskSpec("k", priority=garbage)


# -- strictness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"name": "a", "capacity": "3"}, (("capacity",), "expected an integer, got '3'")),
        ({"name": "a", "capacity": 2.5}, (("capacity",), "expected an integer, got 2.5")),
        ({"name": "a", "capacity": True}, (("capacity",), "expected an integer, got True")),
        ({"name": 7}, (("name",), "expected a string, got 7")),
        ({"name": "a", "capacity": 0}, (("capacity",), "expected an integer >= 1, got 0")),
        ({"name": ""}, (("name",), "expected a non-empty name, got ''")),
        (
            {"name": "a", "skills": {"x": 1.5}},
            (("skills",), "expected levels in [0, 1] by name, got 'x' = 1.5"),
        ),
        (
            {"name": "a", "skills": {"x": float("nan")}},
            (("skills", "x"), "expected a finite number, got nan"),
        ),
        ({"name": "a", "skills": {"x": "1"}}, (("skills", "x"), "expected a number, got '1'")),
        ({}, (("name",), "required key is missing")),
        (
            {"name": "a", "capabilities": "review"},
            (("capabilities",), "expected a list, got 'review'"),
        ),
        (
            {"name": "a", "capabilities": ["x", 1]},
            (("capabilities", 1), "expected a string, got 1"),
        ),
        (
            {"name": "a", "capabilites": []},
            (("capabilites",), "unknown key (did you mean 'capabilities'?)"),
        ),
    ],
)
def test_structuring_is_strict(data: dict[str, Any], problem: tuple[Any, str]) -> None:
    with pytest.raises(ClassValidationError) as info:
        structure(data, AgentSpec)
    assert list(iter_errors(info.value)) == [problem]


def test_every_field_problem_is_reported() -> None:
    with pytest.raises(ClassValidationError) as info:
        structure({"kind": 1, "timeout": "soon", "max_attempts": "3", "extra": 0}, TaskSpec)
    assert sorted(iter_errors(info.value)) == [
        (
            ("extra",),
            "unknown key (expected one of kind, payload, requires, priority, timeout, "
            "max_attempts, queue_timeout, idempotency_key, affinity_key, labels)",
        ),
        (("kind",), "expected a string, got 1"),
        (("max_attempts",), "expected an integer, got '3'"),
        (("timeout",), "expected a number, got 'soon'"),
    ]


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ClassValidationError) as info:
        structure({"state": "exploded"}, Outcome)
    assert list(iter_errors(info.value)) == [(("state",), "'exploded' is not a valid TaskState")]


def test_capabilities_accept_one_name_or_many() -> None:
    assert AgentSpec("a", "review").capabilities == frozenset({"review"})
    assert AgentSpec("a", ["review", "lint"]).capabilities == frozenset({"review", "lint"})
    assert Principal("p", "admin").roles == frozenset({"admin"})
