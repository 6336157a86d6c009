"""Alert rules on a real orchestrator with real agents, driven by a manual clock: ``for``,
cooldown, escalation and resolution are seen without waiting for them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import alveary
import pytest
from alveary import AgentSpec, ConfigError, Orchestrator, PluginError, TaskSpec
from alveary.testing import EventRecorder, ManualClock, OneToken, until
from alveary_metrics import Metrics

from .conftest import metrics_of, scrape

OK = {"authorization": "Bearer ok"}


def alerting(rules: Mapping[str, Any]) -> alveary.Config:
    data = {
        "orchestrator": {"tick_interval": 0.01, "shutdown_timeout": 0.5},
        "plugins": {"enabled": ["metrics"], "metrics": {"listen": "127.0.0.1:0", "alerts": rules}},
    }
    return Orchestrator.from_config(data).config


async def settle(metrics: Metrics) -> None:
    """Return after two whole evaluations that began after this call: they saw the clock
    and the tasks as they are now."""
    seen = metrics.alerts.evaluated
    await until(lambda: metrics.alerts.evaluated >= seen + 2, timeout=30)


class Work:
    """Kind ``bad`` fails for good; kind ``slow`` takes ten seconds of the manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    async def run(self, task: alveary.Task) -> Any:
        if task.kind == "bad":
            raise alveary.PermanentFailure("bad on purpose")
        if task.kind == "slow":
            self.clock.advance(10)
        return task.payload


async def finish(
    orch: Orchestrator, *kinds: str, credentials: Mapping[str, Any] | None = None
) -> None:
    """Run tasks of these kinds one after the other, to their end."""
    for kind in kinds:
        spec = TaskSpec(kind, requires={"w"})
        await (await orch.submit(spec, credentials=credentials)).result(timeout=60)


async def test_an_error_rate_fires_after_its_for_escalates_once_and_resolves() -> None:
    clock, rec = ManualClock(), EventRecorder()
    rule = {"metric": "error_rate", "threshold": 0.5, "for_seconds": 60, "window": 7200}
    async with Orchestrator(alerting({"errors": rule}), [rec], clock=clock) as orch:
        metrics = metrics_of(orch)
        await orch.register(AgentSpec("w", {"w"}, options={"handler": Work(clock).run}))
        await finish(orch, "bad", "bad", "bad", "ok")
        start = clock.now
        await settle(metrics)
        clock.advance(59)
        await settle(metrics)
        assert rec.of("alert.firing") == []  # held 59 s of 60
        clock.advance(1)
        firing = await rec.wait_for("alert.firing", rule="errors", timeout=30)
        assert firing.data == {
            "rule": "errors",
            "metric": "error_rate",
            "op": ">",
            "threshold": 0.5,
            "value": 0.75,
            "for_seconds": 60.0,
            "escalated": False,
            "holding_since": start,
            "firing_for": 0.0,
            "window": 7200.0,
        }
        got = await scrape(metrics.url)
        assert got.value("alveary_alert_firing", rule="errors") == 1

        clock.advance(1799)
        await settle(metrics)
        assert rec.of("alert.escalated") == []
        clock.advance(1)
        escalated = await rec.wait_for("alert.escalated", rule="errors", timeout=30)
        assert escalated.data["escalated"] is True
        assert escalated.data["firing_for"] == 1800
        clock.advance(600)
        await settle(metrics)
        assert len(rec.of("alert.escalated")) == 1  # once per firing

        await finish(orch, "ok", "ok", "ok", "ok")  # 3 failed of 8
        resolved = await rec.wait_for("alert.resolved", rule="errors", timeout=30)
        assert resolved.data["value"] == 3 / 8
        got = await scrape(metrics.url)
        assert got.value("alveary_alert_firing", rule="errors") == 0
        assert len(rec.of("alert.firing")) == 1


async def test_a_rule_does_not_fire_again_within_its_cooldown() -> None:
    clock, rec = ManualClock(), EventRecorder()
    name = "\"; $(touch pwned) --gpu '"  # a name is data, carried as it is
    rule = {"metric": "ready_agents", "capability": "gpu", "op": "<", "threshold": 1}
    async with Orchestrator(alerting({name: rule}), [rec], clock=clock) as orch:
        metrics = metrics_of(orch)
        first = await rec.wait_for("alert.firing", timeout=30)  # no gpu agent at all
        assert (first.data["rule"], first.data["value"]) == (name, 0)
        agent = await orch.register(AgentSpec("g", {"gpu"}, options={"handler": Work(clock).run}))
        resolved = await rec.wait_for("alert.resolved", timeout=30)
        assert resolved.data["value"] == 1
        await orch.deregister(agent.id)
        clock.advance(599)
        await settle(metrics)
        assert len(rec.of("alert.firing")) == 1  # holds again, but within the 600 s
        assert metrics.alerts.firing() == []
        clock.advance(1)
        await until(lambda: len(rec.of("alert.firing")) == 2, timeout=30)
        assert metrics.alerts.firing() == [name]
        got = await scrape(metrics.url)
        assert got.value("alveary_alert_firing", rule=name) == 1


async def test_latency_p95_is_per_kind_or_over_every_kind() -> None:
    clock, rec = ManualClock(), EventRecorder()
    rules = {
        "slow-p95": {"metric": "latency_p95", "kind": "slow", "threshold": 5},
        "fast-p95": {"metric": "latency_p95", "kind": "fast", "threshold": 5},
        "all-p95": {"metric": "latency_p95", "threshold": 5},
        "unseen": {"metric": "latency_p95", "kind": "never-run", "op": "<", "threshold": 5},
    }
    async with Orchestrator(alerting(rules), [rec], clock=clock) as orch:
        metrics = metrics_of(orch)
        await orch.register(AgentSpec("w", {"w"}, options={"handler": Work(clock).run}))
        await finish(orch, *["fast"] * 19, "slow")
        firing = await rec.wait_for("alert.firing", rule="slow-p95", timeout=30)
        assert (firing.data["value"], firing.data["kind"]) == (10, "slow")
        await settle(metrics)
        # 19 of 20 took 0 s: the 95th percentile (nearest rank, the 19th) is 0
        assert metrics.alerts.firing() == ["slow-p95"]
        assert metrics.alerts.measure(metrics.alerts.rules["all-p95"], orch, clock.now) == 0


async def test_queue_wait_memory_and_authentication_failures() -> None:
    clock, rec = ManualClock(), EventRecorder()
    rules = {
        "stuck": {"metric": "queue_wait", "threshold": 100},
        "memory": {"metric": "memory_rss", "threshold": 1024},
        "intruders": {"metric": "auth_failures", "op": ">=", "threshold": 2, "window": 60},
        "failing": {"metric": "failed_per_hour", "threshold": 0},
    }
    async with Orchestrator(alerting(rules), [rec, OneToken("ok")], clock=clock) as orch:
        memory = await rec.wait_for("alert.firing", rule="memory", timeout=30)
        assert memory.data["value"] > 1024
        await orch.submit(
            TaskSpec("t", requires={"nobody-has-it"}, queue_timeout=36000), credentials=OK
        )
        clock.advance(101)
        stuck = await rec.wait_for("alert.firing", rule="stuck", timeout=30)
        assert stuck.data["value"] >= 101
        for token in ("", "$(id)", "-rf", "x" * 10_000):
            with pytest.raises(alveary.Denied):
                await orch.authorize({"authorization": f"Bearer {token}"}, "task.read", "*")
        intruders = await rec.wait_for("alert.firing", rule="intruders", timeout=30)
        assert intruders.data["value"] == 4
        clock.advance(61)
        gone = await rec.wait_for("alert.resolved", rule="intruders", timeout=30)
        assert gone.data["value"] == 0
        assert rec.of("alert.firing", rule="failing") == []  # no task failed


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"metric": "nope", "threshold": 1}, "alerts.x.metric: unknown metric 'nope'"),
        (
            {"metric": "error_rate", "threshold": float("nan")},
            "alerts.x.threshold: expected a finite number, got nan",
        ),
        (
            {"metric": "error_rate", "threshold": float("inf")},
            "alerts.x.threshold: expected a finite number, got inf",
        ),
        ({"metric": "error_rate", "threshold": "0.5"}, "alerts.x.threshold: expected a number"),
        ({"metric": "error_rate", "threshold": True}, "alerts.x.threshold: expected a number"),
        ({"metric": "error_rate"}, "alerts.x.threshold: required"),
        (
            {"metric": "error_rate", "threshold": 1, "for_seconds": -1},
            "alerts.x.for_seconds: expected a number >= 0",
        ),
        (
            {"metric": "error_rate", "threshold": 1, "cooldown": -5},
            "alerts.x.cooldown: expected a number >= 0",
        ),
        (
            {"metric": "error_rate", "threshold": 1, "escalate_after": float("nan")},
            "alerts.x.escalate_after: expected a finite number",
        ),
        (
            {"metric": "error_rate", "threshold": 1, "window": 0},
            "alerts.x.window: expected a number > 0",
        ),
        (
            {"metric": "error_rate", "threshold": 1, "op": "=>"},
            "alerts.x.op: expected one of >, >=, <, <=",
        ),
        ({"metric": "error_rate", "threshold": 1, "op": "$(id)"}, "alerts.x.op: expected one of"),
        ({"metric": "ready_agents", "threshold": 1}, "alerts.x.capability: ready_agents needs"),
        (
            {"metric": "ready_agents", "threshold": 1, "capability": " "},
            "alerts.x.capability: ready_agents needs",
        ),
        ({"metric": "queue_wait", "threshold": 1, "kind": "k"}, "alerts.x.kind: only latency_p95"),
        (
            {"metric": "queue_wait", "threshold": 1, "capability": "c"},
            "alerts.x.capability: only ready_agents",
        ),
        ({"metric": "error_rate", "threshold": 1, "for": 60}, "alerts.x.for: unknown key"),
    ],
)
def test_bad_rules_are_one_line_naming_their_key(rule: dict[str, Any], expected: str) -> None:
    data = {"plugins": {"enabled": ["metrics"], "metrics": {"alerts": {"x": rule}}}}
    with pytest.raises((ConfigError, PluginError)) as info:
        Orchestrator.from_config(data)
    message = str(info.value)
    assert f"plugins.metrics.{expected}" in message, message
    assert "\n" not in message
    assert "Traceback" not in message
