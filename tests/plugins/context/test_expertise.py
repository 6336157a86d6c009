"""Expertise learned from outcomes: routing converges to the agents that succeed, still
explores, explains itself, and survives a restart with a durable store."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import alveary
import pytest
from alveary import AgentSpec, Task, TaskSpec
from alveary.testing import echo, orchestrator
from alveary_context import Context, Profiles
from hypothesis import given, settings
from hypothesis import strategies as st


def config(**context: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"strategy": "context"},
        "routing": {"sample": 0},
        "plugins": {"enabled": ["context"], "context": context},
    }


def context_of(orch: alveary.Orchestrator) -> Context:
    plugin = orch.plugins["context"]
    assert isinstance(plugin, Context)
    return plugin


def flaky(rate: float, seed: int) -> Any:
    """A handler that succeeds with probability ``rate``."""
    rng = random.Random(seed)

    async def handle(task: Task) -> str:
        if rng.random() >= rate:
            raise RuntimeError("wrong answer")
        return "ok"

    return handle


async def fleet(orch: alveary.Orchestrator) -> None:
    """Five agents of a kind that succeeds 95% of the time, five of one that succeeds 50%.

    A kind's agents share one seeded handler, so the outcomes a kind's profile learns from do
    not depend on which of its (equally scored) agents a tie sends a task to."""
    handlers = {"strong": flaky(0.95, seed=1), "weak": flaky(0.5, seed=2)}
    for i in range(5):
        for kind, handler in handlers.items():
            await orch.register(
                AgentSpec(
                    f"{kind}-{i}", {"review"}, labels={"kind": kind}, options={"handler": handler}
                )
            )


async def review(orch: alveary.Orchestrator) -> str:
    spec = TaskSpec("review", requires={"review"}, max_attempts=1)
    outcome = await (await orch.submit(spec)).result(timeout=5)
    return orch.agent(outcome.agent_id or "").spec.labels["kind"]


async def test_routing_converges_to_the_better_kind_and_still_explores() -> None:
    async with orchestrator(config()) as orch:
        await fleet(orch)
        context_of(orch).expertise.rng.seed(3)  # which tasks explore: the same every run
        kinds = [await review(orch) for _ in range(200)]
        late = kinds[100:]
        # about one task in ten explores; the rest go to the strong kind
        assert late.count("strong") >= 75, kinds
        assert "weak" in late  # explored: about one task in ten
        plugin = context_of(orch)
        strong = plugin.profiles.get("kind:strong", "review")
        weak = plugin.profiles.get("kind:weak", "review")
        assert strong is not None
        assert weak is not None
        assert strong.success > weak.success
        assert strong.samples > weak.samples >= 10


async def test_without_exploration_the_weaker_kind_is_left_alone() -> None:
    async with orchestrator(config(explore=0.0)) as orch:
        await fleet(orch)
        kinds = [await review(orch) for _ in range(200)]
        # only when the strong kind's moving average dips below what the weak kind showed
        assert kinds[100:].count("weak") <= 8
        assert context_of(orch).expertise.explored == 0


async def test_explain_ranks_agents_with_a_confidence_and_a_reason() -> None:
    async with orchestrator(config(explore=0.0)) as orch:
        await fleet(orch)
        plugin = context_of(orch)
        task = Task("t", TaskSpec("review", requires={"review"}))
        for i in range(40):  # what 40 reviews of each kind taught
            plugin.expertise.learn(task, orch.agent("strong-0"), i % 20 != 0, 1.0)
            plugin.expertise.learn(task, orch.agent("weak-0"), i % 2 == 0, 1.0)
        explanation = context_of(orch).explain(TaskSpec("review", requires={"review"}))
        assert explanation.choice is not None
        assert explanation.choice.agent.startswith("strong-")
        assert len(explanation.ranked) == 3
        assert 0 < explanation.confidence <= 1
        assert explanation.choice.parts["learned"] > 0.8
        assert "confidence" in explanation.text
        assert explanation.text.startswith(explanation.choice.agent)
        nobody = context_of(orch).explain(TaskSpec("translate", requires={"french"}))
        assert nobody.ranked == ()
        assert "no agent" in nobody.text


async def test_declared_skill_complexity_and_preference_count() -> None:
    async with orchestrator(config(explore=0.0)) as orch:
        junior = await orch.register(
            AgentSpec("junior", {"code"}, skills={"code": 0.3}, options={"handler": echo})
        )
        senior = await orch.register(
            AgentSpec(
                "senior",
                {"code"},
                skills={"code": 0.9},
                labels={"prefers": "refactor, review"},
                options={"handler": echo},
            )
        )
        expertise = context_of(orch).expertise
        hard = Task("t1", TaskSpec("refactor", requires={"code"}, labels={"complexity": "0.8"}))
        assert expertise.parts(hard, junior)["fit"] == pytest.approx(0.5)
        assert expertise.parts(hard, senior)["fit"] == 1.0
        assert expertise.parts(hard, senior)["preference"] == 1.0
        assert "preference" not in expertise.parts(hard, junior)
        assert expertise.score(hard, senior) > expertise.score(hard, junior)
        outcome = await (await orch.submit(hard.spec)).result(timeout=5)
        assert outcome.agent_id == senior.id


async def test_profiles_survive_a_restart_with_a_durable_store(
    tmp_path: Path, file_store: Any
) -> None:
    path = tmp_path / "values.json"
    data = {**config(explore=0.0), "orchestrator": {"strategy": "context", "store": "file"}}
    async with orchestrator(data, file_store(path)) as orch:
        await fleet(orch)
        for _ in range(60):
            await review(orch)
        learned = context_of(orch).profiles.dump()
    assert path.exists()
    async with orchestrator(data, file_store(path)) as orch:
        plugin = context_of(orch)
        assert plugin.profiles.dump() == learned
        await fleet(orch)
        # the new agents are judged by what their kind did before the restart
        task = Task("t", TaskSpec("review", requires={"review"}))
        for kind in ("strong", "weak"):
            parts = plugin.expertise.parts(task, orch.agent(f"{kind}-0"))
            samples, success, _ = learned[f"kind:{kind}"]["review"]
            assert parts["confidence"] == pytest.approx(samples / (samples + 10))
            assert parts["learned"] == pytest.approx(
                parts["confidence"] * success + (1 - parts["confidence"]), abs=1e-5
            )
            assert parts["confidence"] > 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 60)), min_size=1, max_size=40))
def test_profiles_round_trip_and_confidence_grows(outcomes: list[tuple[bool, float]]) -> None:
    profiles = Profiles(rate=0.1, confidence_samples=10)
    confidence = 0.0
    for ok, seconds in outcomes:
        found = profiles.record("kind:a", "review", ok, seconds)
        assert 0.0 <= found.success <= 1.0
        assert profiles.confidence(found) > confidence
        confidence = profiles.confidence(found)
    copy = Profiles(rate=0.1, confidence_samples=10)
    assert copy.load(profiles.dump()) == 1
    assert copy.dump() == profiles.dump()
    assert copy.load({"x": "not a profile", "y": {"k": [1, 2]}}) == 0
