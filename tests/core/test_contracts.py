"""The contract suites of ``alveary.testing.contracts``: the kernel's built-ins pass them,
and each suite fails against a component written here to break its protocol."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from alveary import Agent, AgentSpec, Candidates, Task, hookimpl
from alveary._builtins.least_loaded import LeastLoaded
from alveary._builtins.local import LocalRuntime
from alveary._builtins.memory import MemoryStore, MemoryStorePlugin
from alveary.testing import FakeRuntime, echo, fail, hang
from alveary.testing.contracts import RuntimeContract, StoreContract, StrategyContract


async def failing(task: Task) -> None:
    raise RuntimeError(f"cannot do {task.payload}")


async def hanging(task: Task) -> None:
    await asyncio.Event().wait()


HANDLERS = {"echo": echo, "fail": failing, "hang": hanging}


# -- the built-ins pass -------------------------------------------------------------------------


class TestLocalRuntime(RuntimeContract):
    @pytest.fixture
    def plugin(self) -> LocalRuntime:
        return LocalRuntime()

    @pytest.fixture
    def spec(self) -> Callable[[str, str], AgentSpec]:
        return lambda behaviour, name: AgentSpec(name, options={"handler": HANDLERS[behaviour]})


class TestFakeRuntime(RuntimeContract):
    """The fake runtime of ``alveary.testing`` is a runtime too."""

    @pytest.fixture
    def plugin(self) -> FakeRuntime:
        fake = FakeRuntime()
        fake.script("fail-1", fail())
        fake.script("hang-1", hang())
        return fake

    @pytest.fixture
    def spec(self) -> Callable[[str, str], AgentSpec]:
        return lambda behaviour, name: AgentSpec(name, runtime="fake")


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def plugin(self) -> MemoryStorePlugin:
        return MemoryStorePlugin(MemoryStorePlugin.Config())


class TestLeastLoaded(StrategyContract):
    @pytest.fixture
    def plugin(self) -> LeastLoaded:
        return LeastLoaded()


# -- broken components fail them ---------------------------------------------------------------


BROKEN_SUITES = """\
import importlib.util

spec = importlib.util.spec_from_file_location("contracts_under_test", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
{suites}
"""


def failures(tests: Mapping[type, Iterable[str]], tmp_path: Path) -> dict[str, set[str]]:
    """Run ``tests`` of each suite (a subclass defined in this module) in one pytest of their
    own; suite name -> the names of its tests that failed."""
    test = tmp_path / "test_broken.py"
    suites = "\n".join(f"Test{suite.__name__} = module.{suite.__name__}" for suite in tests)
    test.write_text(BROKEN_SUITES.format(path=__file__, suites=suites), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *(
                f"{test}::Test{suite.__name__}::{name}"
                for suite in tests
                for name in sorted(tests[suite])
            ),
            "-q",
            "-rfE",
            "--tb=no",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found: dict[str, set[str]] = {suite.__name__: set() for suite in tests}
    for suite, name in re.findall(r"^(?:FAILED|ERROR) \S+::Test(\w+)::(\S+)", done.stdout, re.M):
        found[suite].add(name)
    # 3: a component left work running past its test's deadline (DeafRuntime does)
    assert done.returncode in (0, 1, 3), done.stdout + done.stderr
    return found


class LyingRuntime(LocalRuntime):
    """Returns None whatever the handler returned, and swallows failures."""

    async def execute(self, agent: Agent, task: Task) -> Any:
        with contextlib.suppress(Exception):
            await super().execute(agent, task)
        return None


class DeafRuntime(LocalRuntime):
    """Ignores cancellation: keeps waiting on a hung handler."""

    async def execute(self, agent: Agent, task: Task) -> Any:
        work = asyncio.ensure_future(super().execute(agent, task))
        while True:
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                continue


class BrokenLocal(TestLocalRuntime):
    deadline = 2.0

    @pytest.fixture
    def plugin(self) -> LocalRuntime:
        return LyingRuntime()


class DeafLocal(TestLocalRuntime):
    deadline = 2.0

    @pytest.fixture
    def plugin(self) -> LocalRuntime:
        return DeafRuntime()


class ForgetfulStore(MemoryStore):
    """Loses updates (keeps the first save of a task), never binds keys, drops values."""

    def save_task(self, task: Task) -> None:
        if self.get_task(task.id) is None:
            super().save_task(task)

    def claim(self, key: str, task_id: str) -> str | None:
        return None

    def put_value(self, namespace: str, key: str, value: Any) -> None:
        super().put_value(namespace, key, None if isinstance(value, dict) else value)


class LeakyStore(MemoryStore):
    """Reports finished tasks as unfinished, and claims to be durable."""

    durable = True

    def unfinished(self) -> Iterable[Task]:
        return list(self.tasks())


class Provides:
    """Provides one store or strategy, the way a plugin does."""

    def __init__(self, hook: str, name: str, component: object) -> None:
        self.name = f"provides-{name}"
        setattr(self, hook, hookimpl(specname=hook)(lambda: {name: component}))


class BrokenStore(StoreContract):
    @pytest.fixture
    def plugin(self) -> object:
        return Provides("alveary_stores", "forgetful", ForgetfulStore(100))


class DurableLeakyStore(StoreContract):
    @pytest.fixture
    def plugin(self) -> object:
        return Provides("alveary_stores", "leaky", LeakyStore(100))


class Careless:
    """Picks any agent it has seen, candidate or not; ``None`` for the first tasks."""

    def __init__(self) -> None:
        self.seen: list[Agent] = []
        self.calls = 0

    def select(self, task: Task, candidates: Candidates) -> Agent | None:
        self.calls += 1
        self.seen.extend(a for a in candidates if a not in self.seen)
        return self.seen[self.calls % len(self.seen)] if self.seen else None


class Idle:
    """Never picks: every task stays queued."""

    def select(self, task: Task, candidates: Candidates) -> Agent | None:
        return None


class CarelessStrategy(StrategyContract):
    deadline = 2.0

    @pytest.fixture
    def plugin(self) -> object:
        return Provides("alveary_strategies", "careless", Careless())


class IdleStrategy(StrategyContract):
    deadline = 2.0

    @pytest.fixture
    def plugin(self) -> object:
        return Provides("alveary_strategies", "idle", Idle())


BROKEN: Mapping[type, set[str]] = {
    BrokenLocal: {
        "test_tasks_end_with_their_values",
        "test_a_failing_task_fails_its_attempt_not_its_agent",
    },
    DeafLocal: {"test_a_cancelled_task_lets_go"},
    BrokenStore: {
        "test_saving_again_updates_the_same_task",
        "test_unfinished_is_exactly_the_tasks_not_terminal",
        "test_a_key_is_claimed_once",
        "test_values_round_trip",
        "test_an_orchestrator_runs_on_it",
    },
    DurableLeakyStore: {
        "test_unfinished_is_exactly_the_tasks_not_terminal",
        "test_a_durable_store_keeps_everything_across_a_restart",
        "test_an_orchestrator_recovers_its_unfinished_tasks",
    },
    CarelessStrategy: {"test_picks_only_candidates_and_places_every_task[0]"},
    IdleStrategy: {"test_picks_only_candidates_and_places_every_task[0]"},
}


def test_each_broken_component_fails_its_contract(tmp_path: Path) -> None:
    # only the tests it must fail run: the others may pass or fail, and take their deadlines
    assert failures(BROKEN, tmp_path) == {suite.__name__: set(BROKEN[suite]) for suite in BROKEN}
