"""What other plugins tell the metrics plugin: the health plugin's circuit breakers (by their
events) and the durable store's write latency (``write_latency``), each with the real plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import alveary
from alveary import AgentSpec, Orchestrator, TaskSpec

from .conftest import config, echo, metrics_of, scrape

BREAKER = {
    "min_requests": 3,
    "breaker_failures": 2,
    "breaker_cooldown": 3600.0,
    "check_interval": 0.05,
}


async def boom(task: alveary.Task) -> Any:
    raise RuntimeError("agent is broken")


def with_health() -> dict[str, Any]:
    data = config()
    data["plugins"]["enabled"] = ["metrics", "health"]
    data["plugins"]["health"] = BREAKER
    return data


async def test_open_breakers_are_counted_until_their_agent_goes() -> None:
    async with Orchestrator.from_config(with_health()) as orch:
        bad = await orch.register(AgentSpec("bad", {"w"}, options={"handler": boom}))
        await orch.register(AgentSpec("good", {"w"}, options={"handler": echo}))
        url = metrics_of(orch).url
        before = await scrape(url)
        assert before.value("alveary_breakers", state="open") == 0
        handles = [await orch.submit(TaskSpec("t", n, requires={"w"})) for n in range(20)]
        for handle in handles:
            assert (await handle.result(timeout=10)).ok
        got = await scrape(url)
        assert got.value("alveary_breakers", state="open") == 1
        assert got.value("alveary_breakers", state="half-open") == 0
        await orch.deregister(bad.id)
        gone = await scrape(url)
        assert gone.value("alveary_breakers", state="open") == 0


async def test_the_sqlite_store_reports_how_long_its_writes_take(tmp_path: Path) -> None:
    data = config()
    data["orchestrator"]["store"] = "sqlite"
    data["plugins"]["enabled"] = ["metrics", "state"]
    data["plugins"]["state"] = {"path": str(tmp_path / "a.db")}
    async with Orchestrator.from_config(data) as orch:
        await orch.register(AgentSpec("a", {"w"}, options={"handler": echo}))
        for n in range(5):
            assert (await (await orch.submit(TaskSpec("t", n, requires={"w"}))).result(10)).ok
        url = metrics_of(orch).url
        got = await scrape(url)
        writes = got.value("alveary_store_write_seconds_count")
        assert writes >= 5  # each acknowledged submit waited for a write
        assert got.value("alveary_store_write_seconds_bucket", le="+Inf") == writes
        assert 0 < got.value("alveary_store_write_seconds_sum") < writes * 10


async def test_a_store_that_does_not_say_has_no_write_latency() -> None:
    async with Orchestrator.from_config(config()) as orch:
        got = await scrape(metrics_of(orch).url)
    assert "alveary_store_write_seconds_count" not in got.samples


async def test_a_write_latency_of_the_wrong_shape_is_left_out_of_a_working_scrape() -> None:
    class Odd:
        bounds = (0.1, 0.2)
        counts = [1]  # one short
        sum = 0.1

    async with Orchestrator.from_config(config()) as orch:
        for odd in (3, "fast", Odd()):
            orch.store.write_latency = odd  # type: ignore[attr-defined]
            got = await scrape(metrics_of(orch).url)
            assert "alveary_store_write_seconds_count" not in got.samples
            assert got.value("alveary_in_flight") == 0


async def test_breaker_events_another_plugin_made_up_break_nothing() -> None:
    """``health.breaker`` is an event type any plugin may emit: data of any shape is ignored
    or counted, never a failed scrape or a failed plugin."""
    async with Orchestrator.from_config(config()) as orch:
        agent = await orch.register(AgentSpec("a", {"w"}, options={"handler": echo}))
        for data in (
            {},
            {"state": None},
            {"state": ["open"]},
            {"agent": 42, "state": "open"},
            {"agent": "ghost", "state": "open"},
            {"state": "open\n$(id)"},
        ):
            orch.emit("health.breaker", data=data)
        orch.emit("health.breaker", agent_id=agent.id, data={"state": "half-open"})
        got = await scrape(metrics_of(orch).url)
        assert got.value("alveary_breakers", state="open") == 0  # "ghost" is no agent
        assert got.value("alveary_breakers", state="half-open") == 1
        assert orch.metrics().plugin_failures == {}
