"""The runtime contract: a runtime runs tasks to their values, turns failures into failed
attempts, lets go of a task it is told to stop, and stops its agents."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from ..._components import Runtime
from ..._records import AgentSpec, TaskSpec
from ..._states import AgentState, TaskState
from .._wait import EventRecorder
from ._common import Contract, run

SpecFor = Callable[[str, str], AgentSpec]
"""``spec(behaviour, name)``: an agent of the runtime under test that behaves so."""

PAYLOADS: list[Any] = [0, 1.5, "text", "ünïcødé ✓", [1, [2, "3"]], {"a": {"b": [None, True]}}]


class RuntimeContract(Contract):
    """Fixtures to give: ``plugin``, the plugin providing the runtime (through
    ``alveary_runtimes``), and ``spec``, a callable ``spec(behaviour, name) -> AgentSpec``
    returning the spec of an agent on that runtime that, for every task:

    - ``"echo"``: returns the task's payload;
    - ``"fail"``: fails (raises, or reports an error);
    - ``"hang"``: never finishes by itself.
    """

    hook: ClassVar[str] = "alveary_runtimes"

    @pytest.fixture
    def plugin(self) -> object:
        pytest.fail("define a `plugin` fixture returning the plugin that provides the runtime")

    @pytest.fixture
    def spec(self) -> SpecFor:
        pytest.fail("define a `spec` fixture: spec(behaviour, name) -> AgentSpec")

    @pytest.fixture
    def runtime(self, plugin: object) -> Runtime:
        runtime: Runtime = self.provided(plugin)[1]
        return runtime

    def test_is_a_runtime(self, runtime: Runtime) -> None:
        assert isinstance(runtime, Runtime)
        for method in (runtime.start, runtime.execute, runtime.stop):
            assert inspect.iscoroutinefunction(method), f"{method.__name__} must be async"

    def test_tasks_end_with_their_values(self, plugin: object, spec: SpecFor) -> None:
        async def body() -> None:
            async with self.running(plugin, {}) as orch:
                agent = await orch.register(spec("echo", "echo-1"))
                assert agent.state is AgentState.READY
                handles = [
                    await orch.submit(TaskSpec("echo", payload, timeout=30))
                    for payload in PAYLOADS * 3
                ]
                values = [(await h.result(timeout=self.deadline)).value for h in handles]
                assert values == PAYLOADS * 3

        run(body, self.deadline)

    def test_a_failing_task_fails_its_attempt_not_its_agent(
        self, plugin: object, spec: SpecFor
    ) -> None:
        async def body() -> None:
            async with self.running(plugin, {}) as orch:
                agent = await orch.register(spec("fail", "fail-1"))
                for _ in range(2):
                    handle = await orch.submit(TaskSpec("t", 1, max_attempts=2, timeout=30))
                    outcome = await handle.result(timeout=self.deadline)
                    assert outcome.state in (TaskState.FAILED, TaskState.DEAD), outcome
                    assert outcome.error, "a failed attempt says why"
                    assert outcome.attempts >= 1
                assert orch.agent(agent.id).state is AgentState.READY

        run(body, self.deadline)

    def test_a_hanging_task_times_out(self, plugin: object, spec: SpecFor) -> None:
        async def body() -> None:
            async with self.running(plugin, {"orchestrator": {"shutdown_timeout": 5.0}}) as orch:
                await orch.register(spec("hang", "hang-1"))
                handle = await orch.submit(TaskSpec("t", 1, max_attempts=1, timeout=0.3))
                outcome = await handle.result(timeout=self.deadline)
                assert outcome.state in (TaskState.FAILED, TaskState.DEAD), outcome
                assert "timed out" in (outcome.error or "")

        run(body, self.deadline)

    def test_a_cancelled_task_lets_go(self, plugin: object, spec: SpecFor) -> None:
        recorder = EventRecorder()

        async def body() -> None:
            async with self.running(plugin, {}, recorder) as orch:
                await orch.register(spec("hang", "hang-1"))
                handle = await orch.submit(TaskSpec("t", 1, timeout=600))
                await recorder.wait_for("task.running", task_id=handle.id, timeout=30)
                assert await handle.cancel()
                outcome = await handle.result(timeout=self.deadline)
                assert outcome.state is TaskState.CANCELLED

        run(body, self.deadline)

    def test_stopping_with_work_in_flight_ends_it(self, plugin: object, spec: SpecFor) -> None:
        recorder = EventRecorder()

        async def body() -> None:
            config = {"orchestrator": {"shutdown_timeout": 2.0}}
            async with self.running(plugin, config, recorder) as orch:
                agent = await orch.register(spec("hang", "hang-1"))
                handle = await orch.submit(TaskSpec("t", 1, timeout=600))
                await recorder.wait_for("task.running", task_id=handle.id, timeout=30)
            assert handle.done(), "stop() leaves no task unfinished"
            assert recorder.of("agent.stopped", agent_id=agent.id)

        run(body, self.deadline)

    def test_an_agent_can_leave_and_come_back(self, plugin: object, spec: SpecFor) -> None:
        async def body() -> None:
            async with self.running(plugin, {}) as orch:
                for _ in range(2):
                    agent = await orch.register(spec("echo", "again"))
                    handle = await orch.submit(TaskSpec("t", "x", timeout=30))
                    assert (await handle.result(timeout=self.deadline)).value == "x"
                    await orch.deregister(agent.id)
                assert orch.agents() == []

        run(body, self.deadline)
