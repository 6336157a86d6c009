"""Anomalies and trends of sampled series, on a real orchestrator with a manual clock: each
sample is taken when the clock has moved a period on."""

from __future__ import annotations

from typing import Any

import alveary
import pytest
from alveary import Orchestrator, TaskSpec
from alveary.testing import EventRecorder, ManualClock
from alveary_metrics import Metrics

from .conftest import metrics_of
from .test_alerts import settle

PERIOD = 10


def watching(**alerts: Any) -> alveary.Config:
    anomaly = {"series": ["queue_depth", "error_rate"], "period": PERIOD}
    data = {
        "orchestrator": {"tick_interval": 0.01, "shutdown_timeout": 0.5},
        "plugins": {
            "enabled": ["metrics"],
            "metrics": {"listen": "127.0.0.1:0", "anomaly": anomaly, "alerts": alerts},
        },
    }
    return Orchestrator.from_config(data).config


class Queue:
    """Tasks no agent can take: the queue depth is what the test makes it."""

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch
        self.waiting: list[str] = []

    async def depth(self, n: int) -> None:
        while len(self.waiting) < n:
            spec = TaskSpec("t", requires={"nobody-has-it"}, queue_timeout=10**6)
            self.waiting.append((await self.orch.submit(spec)).id)
        while len(self.waiting) > n:
            await self.orch.cancel(self.waiting.pop())


async def sample(metrics: Metrics, clock: ManualClock) -> None:
    """Move the clock a period on and wait until the sample is taken."""
    clock.advance(PERIOD)
    await settle(metrics)


async def test_a_spike_beyond_three_sigmas_is_an_anomaly() -> None:
    clock, rec = ManualClock(), EventRecorder()
    async with Orchestrator(watching(), [rec], clock=clock) as orch:
        metrics, queue = metrics_of(orch), Queue(orch)
        for i in range(20):
            await queue.depth(i % 2 + 1)  # 1, 2, 1, 2, ...: mean 1.5, deviation 0.5
            await sample(metrics, clock)
        await queue.depth(3)  # within mean + 3 sigmas (3.0)
        await sample(metrics, clock)
        assert rec.of("metrics.anomaly") == []
        await queue.depth(4)
        await sample(metrics, clock)
        (anomaly,) = rec.of("metrics.anomaly")
        assert anomaly.data["series"] == "queue_depth"
        assert anomaly.data["value"] == 4
        assert anomaly.data["sigmas"] == 3
        assert anomaly.data["samples"] == 21
        assert anomaly.data["mean"] == pytest.approx(33 / 21)
        assert anomaly.data["value"] > anomaly.data["bound"]
        # no task ended: error rate is unknown, never sampled
        assert list(metrics.watcher.history["error_rate"]) == []


async def test_a_trend_that_will_cross_an_alert_threshold_is_told_once() -> None:
    clock, rec = ManualClock(), EventRecorder()
    rule = {"metric": "queue_depth", "threshold": 20, "for_seconds": 3600}
    async with Orchestrator(watching(backlog=rule), [rec], clock=clock) as orch:
        metrics, queue = metrics_of(orch), Queue(orch)
        for depth in range(18):  # one more each period
            await queue.depth(depth)
            await sample(metrics, clock)
        assert rec.of("metrics.trend") == []  # 17 + 3 does not cross 20
        await queue.depth(18)
        await sample(metrics, clock)
        (trend,) = rec.of("metrics.trend")
        assert trend.data == {
            "series": "queue_depth",
            "value": 18,
            "projected": pytest.approx(21),
            "slope": pytest.approx(1 / PERIOD),
            "ahead": 3 * PERIOD,
            "rule": "backlog",
            "op": ">",
            "threshold": 20,
        }
        await queue.depth(19)
        await sample(metrics, clock)
        assert len(rec.of("metrics.trend")) == 1  # still crossing: not told again
        assert rec.of("metrics.anomaly") == []  # a steady rise is no anomaly


@pytest.mark.parametrize(
    ("anomaly", "expected"),
    [
        ({"series": ["nope"]}, "anomaly.series: unknown series 'nope'"),
        ({"series": ["ready_agents"]}, "anomaly.series: unknown series 'ready_agents'"),
        ({"series": "queue_depth"}, "anomaly.series"),
        ({"period": 0}, "anomaly.period: expected a number > 0"),
        ({"period": float("nan")}, "anomaly.period: expected a finite number"),
        ({"samples": 3}, "anomaly.samples: expected an integer >= 10"),
        ({"samples": 1e9}, "anomaly.samples"),
        ({"sigmas": -3}, "anomaly.sigmas: expected a number > 0"),
        ({"ahead": 0}, "anomaly.ahead: expected an integer >= 1"),
    ],
)
def test_bad_watches_are_one_line_naming_their_key(anomaly: dict[str, Any], expected: str) -> None:
    data = {"plugins": {"enabled": ["metrics"], "metrics": {"anomaly": anomaly}}}
    with pytest.raises((alveary.ConfigError, alveary.PluginError)) as info:
        Orchestrator.from_config(data)
    message = str(info.value)
    assert f"plugins.metrics.{expected}" in message, message
    assert "\n" not in message
