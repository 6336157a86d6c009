"""The strategy contract: a strategy picks a candidate, or none, and leaves no task stranded."""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest

from ..._components import Strategy
from ..._records import Agent, AgentSpec, Task, TaskSpec
from ..._routing import Candidates
from ..._states import AgentState
from ...hookspecs import hookimpl
from .._fake import FakeRuntime, slow
from ._common import Contract, run


class Spy:
    """Strategy ``contract-spy``: asks the strategy under test and records every pick that
    the kernel would have to refuse."""

    name = "contract-spy"

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self.picks = 0
        self.violations: list[str] = []

    @hookimpl
    def alveary_strategies(self) -> Mapping[str, Spy]:
        return {"contract-spy": self}

    def select(self, task: Task, candidates: Candidates) -> Agent | None:
        try:
            agent = self.inner.select(task, candidates)
        except Exception as exc:
            self.violations.append(f"select raised {exc!r} for {task.id}")
            raise
        if agent is None:
            return None
        self.picks += 1
        if not isinstance(agent, Agent):
            self.violations.append(f"returned {agent!r}, not an agent")
            return None
        problems = []
        if agent not in candidates:
            problems.append("not a candidate")
        if agent.state is not AgentState.READY:
            problems.append(f"state {agent.state.value}")
        if agent.in_flight >= agent.spec.capacity:
            problems.append("full")
        if not task.spec.requires <= agent.spec.capabilities:
            problems.append("lacks a capability")
        if problems:
            self.violations.append(f"picked {agent.name} for {task.id}: {', '.join(problems)}")
        return agent


class Vetoes:
    """Filters out agents named ``*-vetoed`` and scores agents by a number in their name."""

    name = "contract-vetoes"

    @hookimpl
    def alveary_route_filter(self, candidates: Sequence[Agent]) -> Sequence[Agent]:
        return [a for a in candidates if not a.name.endswith("-vetoed")]

    @hookimpl
    def alveary_route_score(self, agent: Agent) -> float:
        return float(sum(map(ord, agent.name)) % 7)


class StrategyContract(Contract):
    """Fixtures to give: ``plugin``, the plugin providing the strategy (through
    ``alveary_strategies``). The suite runs it in a real orchestrator, with that plugin
    registered, behind a spy that checks every pick."""

    hook: ClassVar[str] = "alveary_strategies"

    @pytest.fixture
    def plugin(self) -> object:
        pytest.fail("define a `plugin` fixture returning the plugin that provides the strategy")

    @pytest.fixture
    def strategy(self, plugin: object) -> Strategy:
        strategy: Strategy = self.provided(plugin)[1]
        return strategy

    def test_is_a_strategy(self, strategy: Strategy) -> None:
        assert isinstance(strategy, Strategy)
        assert not inspect.iscoroutinefunction(strategy.select), "routing is synchronous"

    @pytest.mark.parametrize("sample", [0, 1, 2])
    def test_picks_only_candidates_and_places_every_task(
        self, plugin: object, strategy: Strategy, sample: int
    ) -> None:
        self.place(plugin, strategy, {"routing": {"sample": sample}})

    def test_honours_route_filters_and_scores(self, plugin: object, strategy: Strategy) -> None:
        fake = self.place(plugin, strategy, {}, Vetoes(), vetoed=True)
        assert not [name for name, _ in fake.executed if name.endswith("-vetoed")]

    def place(
        self,
        plugin: object,
        strategy: Strategy,
        config: Mapping[str, Any],
        *plugins: object,
        vetoed: bool = False,
    ) -> FakeRuntime:
        """Run 120 short tasks needing one, two or no capabilities on a mixed fleet; fail
        on any pick the kernel must refuse and on any task left unfinished."""
        spy, fake, rng = Spy(strategy), FakeRuntime("contract-fake"), random.Random(7)
        caps = [{"a"}, {"b"}, {"a", "b"}, {"a", "b", "c"}]

        async def body() -> None:
            settings = {**config, "orchestrator": {"strategy": "contract-spy"}}
            async with self.running(plugin, settings, spy, fake, *plugins) as orch:
                for i in range(12):
                    name = f"agent{i}-vetoed" if vetoed and i % 4 == 0 else f"agent{i}"
                    spec = AgentSpec(name, caps[i % 4], capacity=1 + i % 3, runtime=fake.name)
                    fake.script(name, slow(rng.choice([0.0, 0.005, 0.02])))
                    await orch.register(spec)
                handles = [
                    await orch.submit(
                        TaskSpec(
                            "t", i, requires=rng.choice([set(), {"a"}, {"b"}, {"a", "b"}, {"c"}])
                        )
                    )
                    for i in range(120)
                ]
                results = (h.result(timeout=self.deadline) for h in handles)
                for handle, outcome in zip(handles, await asyncio.gather(*results), strict=True):
                    assert outcome.ok, f"task {handle.id}: {outcome}"
            assert spy.violations == []
            assert spy.picks >= len(handles)

        run(body, self.deadline)
        return fake
