"""What a workflow is: named steps, each a task template with its dependencies, checked
when the workflow is built (unknown names and references, cycles, bad task fields)."""

from __future__ import annotations

import contextlib
import enum
import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from alveary import ConfigError, Priority, TaskSpec

from ._refs import INDEX, ITEM, RESULT_FIELDS, Ref, check_json, parse_ref, refs


class WorkflowError(ConfigError):
    """A workflow definition is wrong. Each line names the step and what is wrong with it."""


class OnFailure(str, enum.Enum):
    """What a step's failure does to the rest of the run.

    ``fail``: the run fails at once and its running steps are cancelled. ``continue``: the
    step's dependents are skipped, the other branches run on, and the run ends failed.
    ``skip``: the step's dependents are skipped and the run may still succeed.
    """

    FAIL = "fail"
    CONTINUE = "continue"
    SKIP = "skip"


def _names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


def _set(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


def _steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(steps)


@attrs.frozen
class FanOut:
    """Run a step once per item of a list from an earlier result, at most ``limit`` at once.
    The step's payload may use ``{item}`` and ``{index}``; its value is the list of the
    items' values, in order."""

    over: str
    limit: int = 16

    @property
    def ref(self) -> Ref:
        return parse_ref(self.over)


@attrs.frozen
class Step:
    """One step: a task template, the steps it waits for (``after``; the steps its payload
    references are added), and how it is assigned, bounded and what its failure does."""

    name: str
    kind: str
    payload: Any = None
    after: tuple[str, ...] = attrs.field(default=(), converter=_names)
    requires: frozenset[str] = attrs.field(factory=frozenset, converter=_set)
    pool: str | None = None
    priority: Priority = Priority.MEDIUM
    timeout: float = 300.0
    max_attempts: int = 3
    queue_timeout: float | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict)
    on_failure: OnFailure = attrs.field(default=OnFailure.FAIL, converter=OnFailure)
    branch_timeout: float | None = None
    """Seconds from the step's start until it must be done, every attempt and item included."""
    fan_out: FanOut | None = None
    needs: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    """Every step this one waits for: ``after``, referenced steps and the fan-out source."""

    def __attrs_post_init__(self) -> None:
        names = set(self.after)
        names.update(ref.root for ref in refs(self.payload) if ref.root not in (ITEM, INDEX))
        if self.fan_out is not None:
            with contextlib.suppress(ValueError):  # a malformed one is reported by Workflow
                names.add(self.fan_out.ref.root)
        object.__setattr__(self, "needs", frozenset(names))

    def spec(self, payload: Any, key: str) -> TaskSpec:
        """The task for one run of this step, with ``key`` as its idempotency key."""
        labels = dict(self.labels)
        if self.pool is not None:
            labels[POOL_LABEL] = self.pool
        return TaskSpec(
            self.kind,
            payload,
            requires=self.requires,
            priority=self.priority,
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            queue_timeout=self.queue_timeout,
            idempotency_key=key,
            labels=labels,
        )


POOL_LABEL = "workflow.pool"
"""The label a step's ``pool`` travels in; the plugin's route filter keeps that pool's agents."""


@attrs.frozen
class Workflow:
    """A named DAG of steps. Building one checks it; ``order`` is a topological order."""

    name: str
    steps: tuple[Step, ...] = attrs.field(converter=_steps)
    order: tuple[str, ...] = attrs.field(init=False, eq=False)
    by_name: Mapping[str, Step] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "order", tuple(_check(self.name, self.steps)))
        object.__setattr__(self, "by_name", {step.name: step for step in self.steps})

    def estimate(self, durations: Mapping[str, float], default: float = 0.0) -> dict[str, float]:
        """Each step's estimated start, in seconds after the run starts: the latest estimated
        end of what it needs, where a step lasts ``durations[kind]`` (else ``default``). A
        fan-out counts as one wave of its limit; queueing is not modelled."""
        starts: dict[str, float] = {}
        ends: dict[str, float] = {}
        steps = self.by_name
        for name in self.order:
            step = steps[name]
            starts[name] = max((ends[need] for need in step.needs), default=0.0)
            ends[name] = starts[name] + durations.get(step.kind, default)
        return starts


def _check(workflow: str, steps: Sequence[Step]) -> list[str]:
    problems: list[str] = []
    names: dict[str, Step] = {}
    if not steps:
        problems.append(f"workflow {workflow!r}: has no steps")
    for step in steps:
        if step.name in names:
            problems.append(f"step {step.name!r}: declared twice")
        names[step.name] = step
        problems.extend(f"step {step.name!r}: {line}" for line in _fields(step))
    for step in steps:
        problems.extend(f"step {step.name!r}: {line}" for line in _links(step, names))
    if problems:
        raise WorkflowError(problems)
    return _topological(names)


def _fields(step: Step) -> list[str]:
    problems = []
    if not step.name or step.name in (ITEM, INDEX) or "." in step.name:
        problems.append("a step name must be non-empty, without dots, not 'item' or 'index'")
    try:
        step.spec(None, "check")
    except (ValueError, TypeError) as error:
        problems.append(str(error))
    try:
        check_json(step.payload, "payload")
    except ValueError as error:
        problems.append(str(error))
    if step.branch_timeout is not None and not step.branch_timeout > 0:
        problems.append(f"branch_timeout: expected a number > 0, got {step.branch_timeout!r}")
    if step.fan_out is not None:
        try:
            step.fan_out.ref  # noqa: B018 - parsing is the check
        except ValueError as error:
            problems.append(f"fan_out.over: {error}")
        if isinstance(step.fan_out.limit, bool) or not step.fan_out.limit >= 1:
            problems.append(f"fan_out.limit: expected an integer >= 1, got {step.fan_out.limit!r}")
    return problems


def _links(step: Step, names: Mapping[str, Step]) -> list[str]:
    problems = []
    for name in sorted({name for name in step.after if name not in names}):
        problems.append(f"waits for unknown step {name!r}")
    every = list(refs(step.payload))
    if step.fan_out is not None:
        with contextlib.suppress(ValueError):  # reported by _fields
            every.append(step.fan_out.ref)
    for ref in every:
        if ref.root in (ITEM, INDEX):
            if step.fan_out is None:
                problems.append(f"{ref.text}: only a fan-out step has an item")
        elif ref.root not in names:
            problems.append(f"{ref.text}: no step named {ref.root!r}")
        elif ref.root == step.name:
            problems.append(f"{ref.text}: a step cannot use its own result")
        elif not ref.path or ref.path[0] not in RESULT_FIELDS:
            fields = ", ".join(sorted(RESULT_FIELDS))
            problems.append(
                f"{ref.text}: a result has {fields}; say which, e.g. {{{ref.root}.value}}"
            )
    return problems


def _topological(steps: Mapping[str, Step]) -> list[str]:
    """Kahn's algorithm, taking names in declaration order among the ready ones; raises
    ``WorkflowError`` naming the steps of a cycle."""
    position = {name: i for i, name in enumerate(steps)}
    waiting = {name: len(step.needs) for name, step in steps.items()}
    dependents: dict[str, list[str]] = {name: [] for name in steps}
    for name, step in steps.items():
        for need in step.needs:
            dependents[need].append(name)
    ready = [(position[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (position[dependent], dependent))
    if len(order) < len(steps):
        raise WorkflowError(f"steps form a cycle: {' -> '.join(_cycle(steps, set(order)))}")
    return order


def _cycle(steps: Mapping[str, Step], done: set[str]) -> list[str]:
    """One cycle among the steps left out of the order, as names, first name repeated."""
    name = next(name for name in steps if name not in done)
    seen: list[str] = []
    while name not in seen:
        seen.append(name)
        name = min(need for need in steps[name].needs if need not in done)
    return [*seen[seen.index(name) :], name]
