"""Hook isolation with a real orchestrator: a plugin that raises or overruns is counted,
reported and in the end disabled, the others go on, and security decisions fail closed."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from alveary import (
    Agent,
    AgentSpec,
    Denied,
    Event,
    Orchestrator,
    Pool,
    PoolMetrics,
    Principal,
    Rejected,
    Task,
    TaskSpec,
    hookimpl,
)
from alveary._pauses import watch
from alveary.testing import EventRecorder, orchestrator

ECHO = {"handler": "alveary.testing:echo"}


def spec(name: str, *capabilities: str) -> AgentSpec:
    return AgentSpec(name, frozenset(capabilities), options=ECHO)


class Noting:
    """Notes ``alveary_agent_registered`` calls in a shared journal; raises for the agent
    names in ``fail_for``."""

    def __init__(self, name: str, journal: list[str], fail_for: Sequence[str] = ()) -> None:
        self.name = name
        self.journal = journal
        self.fail_for = set(fail_for)

    @hookimpl
    def alveary_agent_registered(self, agent: Agent) -> None:
        self.journal.append(f"{self.name}:{agent.name}")
        if agent.name in self.fail_for:
            raise RuntimeError(f"cannot note {agent.name}")


def failures(recorder: EventRecorder, plugin: str) -> list[Event]:
    return [e for e in recorder.events if e.type == "plugin.failed" and e.data["plugin"] == plugin]


# -- notifications -----------------------------------------------------------------------------


async def test_a_raising_notification_does_not_stop_the_others() -> None:
    journal: list[str] = []
    recorder = EventRecorder()
    first = Noting("first", journal, fail_for=["a1"])
    second = Noting("second", journal)
    async with orchestrator({}, first, second, recorder) as orch:
        await orch.register(spec("a1"))
        assert journal == ["first:a1", "second:a1"]
        assert orch.metrics().plugin_failures == {"first": 1}
        [failed] = failures(recorder, "first")
        assert failed.data["hook"] == "alveary_agent_registered"
        assert failed.data["error"] == "RuntimeError: cannot note a1"
        assert orch.agent("a1").state.value == "ready"


async def test_a_raising_event_hook_is_counted_and_the_others_see_every_event() -> None:
    class Fragile:
        name = "fragile"

        @hookimpl
        def alveary_event(self, event: Event) -> None:
            raise ValueError(event.type)

    recorder = EventRecorder()
    async with orchestrator({"orchestrator": {"max_failures": 1000}}, Fragile(), recorder) as orch:
        await orch.register(spec("a1"))
        outcome = await (await orch.submit(TaskSpec("echo", payload=1))).result(5)
        assert outcome.value == 1
        seen = [e for e in recorder.events if not e.type.startswith("plugin.")]
        assert orch.metrics().plugin_failures["fragile"] == len(seen)
    # Failures of alveary_event itself are not relayed through alveary_event (no feedback loop).
    assert not failures(recorder, "fragile")


class Picky:
    """Takes only the events of ``event_types``."""

    def __init__(self, name: str, event_types: Any) -> None:
        self.name = name
        self.event_types = event_types
        self.seen: list[str] = []

    @hookimpl
    def alveary_event(self, event: Event) -> None:
        self.seen.append(event.type)


class Suffix:
    """A container of its own: types ending in ``suffix``."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    def __contains__(self, event_type: object) -> bool:
        return isinstance(event_type, str) and event_type.endswith(self.suffix)


async def test_a_plugin_gets_only_the_event_types_it_asked_for() -> None:
    finals = Picky("finals", frozenset({"task.succeeded", "task.failed"}))
    ready = Picky("ready", Suffix(".ready"))
    recorder = EventRecorder()
    async with orchestrator({}, finals, ready, recorder) as orch:
        await orch.register(spec("a1"))
        for n in range(3):
            await (await orch.submit(TaskSpec("echo", payload=n))).result(5)
        counts = orch.metrics().events
        everything = [e.type for e in recorder.events]
    assert finals.seen == ["task.succeeded"] * 3
    assert ready.seen
    assert ready.seen == [t for t in everything if t == "agent.ready"]
    # The kernel counts every type it emitted, whoever took it.
    assert counts == {t: everything.count(t) for t in set(everything)}
    assert counts["task.pending"] == 3


async def test_an_event_nobody_asked_for_is_not_built() -> None:
    finals = Picky("finals", {"task.succeeded"})
    async with orchestrator({}, finals) as orch:
        await orch.register(spec("a1"))
        before = orch._events._seq
        await (await orch.submit(TaskSpec("echo", payload=1))).result(5)
        assert orch._events._seq == before + 1  # task.pending, assigned, running...: unbuilt
        assert orch.metrics().events["task.running"] == 1


async def test_events_are_counted_with_nobody_listening_and_sent_once_someone_does() -> None:
    async with orchestrator({}) as orch:
        await orch.register(spec("a1"))
        await (await orch.submit(TaskSpec("echo", payload=1))).result(5)
        assert orch._events._seq == 0  # nothing built
        counts = orch.metrics().events
        assert counts["task.pending"] == counts["task.succeeded"] == 1
        assert counts["agent.busy"] == 1
        # A subscriber arriving later gets the types that nobody wanted a moment ago.
        seen: list[str] = []

        async def follow() -> None:
            async for event in orch.events():
                seen.append(event.type)
                if event.type == "task.succeeded":
                    return

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0)
        await (await orch.submit(TaskSpec("echo", payload=2))).result(5)
        await asyncio.wait_for(follower, 5)
    assert seen[0] == "task.pending"
    assert "agent.busy" in seen
    assert seen[-1] == "task.succeeded"
    assert orch.metrics().events["task.succeeded"] == 2


@pytest.mark.parametrize("bad", ["task.succeeded", b"task", 42, object()])
def test_event_types_that_cannot_answer_in_refuse_the_plugin(bad: object) -> None:
    from alveary import PluginError

    with pytest.raises(PluginError, match="plugin 'picky': event_types must be a collection"):
        Orchestrator.from_config({}, plugins=[Picky("picky", bad)])


async def test_event_types_that_raise_fail_the_plugin_not_the_orchestrator() -> None:
    class Raising:
        def __contains__(self, event_type: object) -> bool:
            raise RuntimeError(f"cannot tell {event_type}")

    broken = Picky("broken", Raising())
    recorder = EventRecorder()
    async with orchestrator({"orchestrator": {"max_failures": 2}}, broken, recorder) as orch:
        await orch.register(spec("a1"))
        outcome = await (await orch.submit(TaskSpec("echo", payload=7))).result(5)
        assert outcome.value == 7
        assert broken.seen == []
        assert orch.metrics().disabled_plugins == ("broken",)
    assert any(e.type == "task.succeeded" for e in recorder.events)


async def test_a_plugin_is_disabled_after_max_failures_in_a_row() -> None:
    journal: list[str] = []
    recorder = EventRecorder()
    flaky = Noting("flaky", journal, fail_for=["a1", "a2", "a3", "a4"])
    async with orchestrator({"orchestrator": {"max_failures": 3}}, flaky, recorder) as orch:
        for name in ("a1", "a2", "a3", "a4"):
            await orch.register(spec(name))
        assert journal == ["flaky:a1", "flaky:a2", "flaky:a3"]
        assert orch.metrics().disabled_plugins == ("flaky",)
        assert orch.metrics().plugin_failures == {"flaky": 3}
        disabled = [e for e in recorder.events if e.type == "plugin.disabled"]
        assert [e.data["plugin"] for e in disabled] == ["flaky"]
        assert disabled[0].data["reason"] == "RuntimeError: cannot note a3"
        assert len(orch.agents()) == 4


async def test_a_success_resets_the_failure_streak() -> None:
    journal: list[str] = []
    flaky = Noting("flaky", journal, fail_for=["a1", "a2", "a4", "a5"])
    async with orchestrator({"orchestrator": {"max_failures": 3}}, flaky) as orch:
        for name in ("a1", "a2", "a3", "a4", "a5"):
            await orch.register(spec(name))
        assert orch.metrics().disabled_plugins == ()
        assert orch.metrics().plugin_failures == {"flaky": 4}
        await orch.register(spec("a6"))
        assert orch.metrics().disabled_plugins == ()
        flaky.fail_for.update({"a7", "a8", "a9"})
        for name in ("a7", "a8", "a9", "a10"):
            await orch.register(spec(name))
        assert orch.metrics().disabled_plugins == ("flaky",)
    assert journal[-1] == "flaky:a9"


# -- budgets -----------------------------------------------------------------------------------


class Hanging:
    """An async startup that waits on something that never comes."""

    name = "hanging"

    def __init__(self) -> None:
        self.cancelled = False

    @hookimpl
    async def alveary_startup(self, orchestrator: Orchestrator) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_an_async_impl_that_overruns_counts_as_a_failure() -> None:
    recorder = EventRecorder()
    hanging = Hanging()
    config = {"orchestrator": {"start_timeout": 0.05}}  # the budget of alveary_startup
    async with orchestrator(config, hanging, recorder) as orch:
        assert orch.metrics().plugin_failures == {"hanging": 1}
        [failed] = failures(recorder, "hanging")
        assert failed.data["hook"] == "alveary_startup"
        assert failed.data["error"].startswith("overran its budget (")
        assert failed.data["error"].endswith(" > 50 ms)")
    assert hanging.cancelled


async def test_a_sync_impl_that_overruns_counts_as_a_failure() -> None:
    class Blocking:
        name = "blocking"

        @hookimpl
        def alveary_agent_registered(self, agent: Agent) -> None:
            threading.Event().wait(0.05)  # a blocking call that does not answer in time

    recorder = EventRecorder()
    config = {"orchestrator": {"hook_timeout": 0.01}}
    async with orchestrator(config, Blocking(), recorder) as orch:
        await orch.register(spec("a1"))
        assert orch.metrics().plugin_failures == {"blocking": 1}
        [failed] = failures(recorder, "blocking")
        assert failed.data["error"].startswith("overran its budget")


@pytest.fixture
def slow_collections() -> Iterator[None]:
    """Every collection of the cyclic garbage collector takes 50 ms longer, counted as the
    collector's (the kernel's own callback is installed first, so it brackets the stall)."""

    def stall(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            time.sleep(0.05)

    watch()
    gc.callbacks.append(stall)
    yield
    gc.callbacks.remove(stall)


async def test_the_collectors_pauses_are_not_held_against_a_hook(slow_collections: None) -> None:
    class Collecting:
        """Hooks inside which a (slow) collection runs: a gate and a notification."""

        name = "collecting"

        @hookimpl
        def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool:
            gc.collect()
            return True

        @hookimpl
        def alveary_agent_registered(self, agent: Agent) -> None:
            gc.collect()

    recorder = EventRecorder()
    config = {"orchestrator": {"hook_timeout": 0.02}}
    async with orchestrator(config, Collecting(), recorder) as orch:
        for name in ("a1", "a2", "a3"):  # authorized each time: never refused, never disabled
            await orch.register(spec(name))
        assert orch.metrics().plugin_failures == {}
        assert failures(recorder, "collecting") == []


async def test_async_impls_are_awaited() -> None:
    class Warm:
        name = "warm"

        def __init__(self) -> None:
            self.plugins: list[str] = []
            self.seen: list[str] = []

        @hookimpl
        async def alveary_startup(self, orchestrator: Orchestrator) -> None:
            await asyncio.sleep(0)
            self.plugins = list(orchestrator.plugins)

        @hookimpl
        async def alveary_agent_registered(self, agent: Agent) -> None:
            await asyncio.sleep(0)
            self.seen.append(agent.name)

    warm = Warm()
    async with orchestrator({}, warm) as orch:
        assert warm.plugins == ["local", "memory", "least-loaded", "warm"]
        await orch.register(spec("a1"))
        assert orch.metrics().plugin_failures == {}
    assert warm.seen == ["a1"]


async def test_an_impl_that_takes_some_arguments_gets_those_by_name() -> None:
    class Few:
        name = "few"

        def __init__(self) -> None:
            self.seen: list[Any] = []

        @hookimpl
        def alveary_event(self) -> None:
            self.seen.append("event")

        @hookimpl
        def alveary_task_after(self, outcome: Any, task: Task) -> None:
            self.seen.append((outcome.value, task.spec.kind))

        @hookimpl
        def alveary_agent_state_changed(self, reason: str, new: Any) -> None:
            self.seen.append((reason, new.value))

    few = Few()
    async with orchestrator({}, few) as orch:
        await orch.register(spec("a1", "x"))
        await orch.drain("a1")
        await orch.deregister("a1")
        await orch.register(spec("a2", "x"))  # ready, busy, ready: task_after in between
        assert (await (await orch.submit(TaskSpec("k", 7, requires={"x"}))).result()).value == 7
        assert orch.metrics().plugin_failures == {}
    calls = [s for s in few.seen if s != "event"]
    assert calls[:4] == [
        ("", "ready"),
        ("", "draining"),
        ("deregistered", "stopped"),
        ("", "ready"),
    ]
    assert (7, "k") in calls
    assert few.seen.count("event") > 10


# -- security and validation fail closed -------------------------------------------------------


async def test_an_authorize_hook_that_raises_denies() -> None:
    class Broken:
        name = "authz"

        @hookimpl
        def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool:
            raise ConnectionError("policy server unreachable")

    recorder = EventRecorder()
    async with orchestrator({}, Broken(), recorder) as orch:
        with pytest.raises(Denied, match=r"^authz: agent\.register a1: the plugin failed$"):
            await orch.register(spec("a1"))
        assert orch.agents() == []
        assert orch.metrics().plugin_failures == {"authz": 1}
        denied = [e for e in recorder.events if e.type == "security.denied"]
        assert denied[0].data["reason"] == "not authorized"


async def test_any_false_from_authorize_denies() -> None:
    class Allow:
        name = "allow"

        @hookimpl
        def alveary_authorize(self) -> bool:
            return True

    class NoSubmit:
        name = "no-submit"

        @hookimpl
        def alveary_authorize(self, action: str) -> bool | None:
            return False if action == "task.submit" else None

    async with orchestrator({}, Allow(), NoSubmit()) as orch:
        await orch.register(spec("a1"))
        with pytest.raises(Denied):
            await orch.submit(TaskSpec("echo"))


@pytest.mark.parametrize("how", ["raises", "returns None"])
async def test_authentication_fails_closed(how: str) -> None:
    class Authn:
        name = "authn"

        @hookimpl
        async def alveary_authenticate(self, credentials: Mapping[str, Any]) -> Principal | None:
            if credentials.get("token") == "good":
                return Principal("alice", {"admin"})
            if how == "raises":
                raise KeyError("token")
            return None

    async with orchestrator({}, Authn()) as orch:
        with pytest.raises(Denied, match="not authenticated"):
            await orch.register(spec("a1"), credentials={"token": "bad"})
        assert orch.agents() == []
        agent = await orch.register(spec("a2"), credentials={"token": "good"})
        assert agent.name == "a2"


async def test_agent_validate_rejected_names_the_plugin() -> None:
    class Policy:
        name = "policy"

        @hookimpl
        def alveary_agent_validate(self, spec: AgentSpec, principal: Principal) -> None:
            if "root" in spec.capabilities:
                raise Rejected("agents may not run as root")

    async with orchestrator({}, Policy()) as orch:
        with pytest.raises(Rejected) as info:
            await orch.register(spec("a1", "root"))
        assert info.value.plugin == "policy"
        assert str(info.value) == "policy: agents may not run as root"
        assert orch.agents() == []
        await orch.register(spec("a2", "review"))
        assert orch.metrics().plugin_failures == {}


async def test_agent_validate_that_fails_refuses_the_agent() -> None:
    class Buggy:
        name = "buggy"

        @hookimpl
        async def alveary_agent_validate(self, spec: AgentSpec) -> None:
            raise AttributeError("no attribute 'cpus'")

    async with orchestrator({}, Buggy()) as orch:
        with pytest.raises(Rejected) as info:
            await orch.register(spec("a1"))
        assert info.value.plugin == "buggy"
        assert "the plugin failed" in str(info.value)
        assert orch.agents() == []
        assert orch.metrics().plugin_failures == {"buggy": 1}


# -- routing and scaling -----------------------------------------------------------------------


class Keep:
    """A route filter keeping only the named agents."""

    def __init__(self, name: str, keep: set[str]) -> None:
        self.name = name
        self.keep = keep

    @hookimpl
    def alveary_route_filter(self, candidates: Sequence[Agent]) -> list[Agent]:
        return [a for a in candidates if a.name in self.keep]


async def test_a_raising_route_filter_is_skipped() -> None:
    class Broken:
        name = "broken"

        @hookimpl
        def alveary_route_filter(self, task: Task, candidates: Sequence[Agent]) -> None:
            raise IndexError("oops")

    config = {"orchestrator": {"max_failures": 1000}}
    async with orchestrator(config, Broken(), Keep("only-b", {"b"})) as orch:
        for name in ("a", "b", "c"):
            await orch.register(spec(name, "work"))
        handles = [await orch.submit(TaskSpec("work", requires={"work"})) for _ in range(3)]
        outcomes = [await h.result(5) for h in handles]
        b = orch.agent("b").id
        assert {o.agent_id for o in outcomes} == {b}
        assert orch.metrics().plugin_failures["broken"] >= 3  # at least once per task


async def test_only_a_raising_filter_leaves_every_candidate() -> None:
    class Broken:
        name = "broken"

        @hookimpl
        def alveary_route_filter(self) -> None:
            raise IndexError("oops")

    async with orchestrator({}, Broken()) as orch:
        await orch.register(spec("a", "work"))
        outcome = await (await orch.submit(TaskSpec("work", requires={"work"}))).result(5)
        assert outcome.ok


class Likes:
    """Scores 1.0 for one agent, 0.0 for the others."""

    def __init__(self, name: str, agent: str) -> None:
        self.name = name
        self.agent = agent

    @hookimpl
    def alveary_route_score(self, agent: Agent) -> float:
        return 1.0 if agent.name == self.agent else 0.0


@pytest.mark.parametrize(("weights", "winner"), [((1.0, 3.0), "b"), ((3.0, 1.0), "a")])
async def test_route_scores_are_weighted(weights: tuple[float, float], winner: str) -> None:
    config = {"routing": {"weights": {"likes-a": weights[0], "likes-b": weights[1]}}}
    async with orchestrator(config, Likes("likes-a", "a"), Likes("likes-b", "b")) as orch:
        for name in ("a", "b"):
            await orch.register(spec(name, "work"))
        task = TaskSpec("work", requires={"work"})
        chosen = {(await (await orch.submit(task)).result(5)).agent_id for _ in range(5)}
        assert chosen == {orch.agent(winner).id}
        agent_a = orch.agent("a")
        probe = Task("probe", task)
        assert orch.hooks.route_score(probe, agent_a) == weights[0]


async def test_a_raising_scorer_counts_as_zero() -> None:
    class Broken:
        name = "broken"

        @hookimpl
        def alveary_route_score(self) -> float:
            raise ZeroDivisionError("division by zero")

    async with orchestrator({}, Broken(), Likes("likes-b", "b")) as orch:
        for name in ("a", "b"):
            await orch.register(spec(name, "work"))
        outcome = await (await orch.submit(TaskSpec("work", requires={"work"}))).result(5)
        assert outcome.agent_id == orch.agent("b").id
        assert orch.metrics().plugin_failures["broken"] >= 1


async def test_scale_takes_the_first_answer() -> None:
    calls: list[str] = []

    class Proposes:
        def __init__(self, name: str, size: int | None) -> None:
            self.name = name
            self.size = size

        @hookimpl
        def alveary_scale(self, pool: Pool, metrics: PoolMetrics) -> int | None:
            calls.append(self.name)
            return self.size

    recorder = EventRecorder()
    pool = {"name": "workers", "size": {"min": 1, "max": 5}, "options": ECHO}
    config = {"pools": [pool], "orchestrator": {"tick_interval": 60}}
    plugins = (Proposes("abstains", None), Proposes("three", 3), Proposes("one", 1), recorder)
    async with orchestrator(config, *plugins) as orch:
        assert len(orch.agents()) == 3
        assert orch.pools["workers"].desired == 3
        assert calls == ["abstains", "three"]
        [scaled] = [e for e in recorder.events if e.type == "pool.scaled"]
        assert scaled.data == {"pool": "workers", "from": 1, "to": 3, "proposed": 3, "by": "three"}


async def test_scale_proposals_are_clamped_to_the_pool_size() -> None:
    class Greedy:
        name = "greedy"

        @hookimpl
        def alveary_scale(self) -> int:
            return 50

    pool = {"name": "workers", "size": {"min": 1, "max": 2}, "options": ECHO}
    config = {"pools": [pool], "orchestrator": {"tick_interval": 60}}
    async with orchestrator(config, Greedy()) as orch:
        assert orch.pools["workers"].desired == 2
        assert len(orch.agents()) == 2
