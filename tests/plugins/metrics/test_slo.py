"""Service level objectives on a real orchestrator: each objective in its direction, the
burn rates, the health summary, its event, its gauges, ``GET /v1/metrics/slo`` behind the gateway's
security, and the line ``alveary status`` prints."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from typing import Any

import alveary
import httpx
import pytest
from alveary import AgentSpec, Orchestrator
from alveary.testing import EventRecorder, ManualClock, OneToken
from alveary_gateway import Gateway, cli

from .conftest import Scrape, metrics_of
from .test_alerts import Work, finish, settle

TOKEN = "let-me-in"
AUTH = {"authorization": f"Bearer {TOKEN}"}
OBJECTIVES = {
    "window": 3600,
    "availability": 0.9,
    "latency_p95": 5,
    "error_rate": 0.1,
    "completion_rate": 0.8,
}


def served(**slo: Any) -> alveary.Config:
    data = {
        "orchestrator": {"tick_interval": 0.01, "shutdown_timeout": 0.5},
        "plugins": {
            "enabled": ["gateway", "metrics"],
            "gateway": {"listen": "127.0.0.1:0"},
            "metrics": {"slo": slo},
        },
    }
    return Orchestrator.from_config(data).config


def gateway_url(orch: Orchestrator) -> str:
    gateway = orch.plugins["gateway"]
    assert isinstance(gateway, Gateway)
    return gateway.url


async def test_the_objectives_their_burn_and_the_health_summary() -> None:
    clock, rec = ManualClock(), EventRecorder()
    plugins = [rec, OneToken(TOKEN)]
    async with Orchestrator(served(**OBJECTIVES), plugins, clock=clock) as orch:
        metrics = metrics_of(orch)
        spec = AgentSpec("w", {"w"}, options={"handler": Work(clock).run})
        agent = await orch.register(spec, credentials=AUTH)
        await finish(orch, *["ok"] * 8, "bad", "bad", credentials=AUTH)
        changed = await rec.wait_for("slo.health", timeout=30)
        # error rate 0.2 against 0.1: burn 2, score 1/2; the other three are met
        assert (changed.data["previous"], changed.data["status"]) == ("healthy", "degraded")
        assert changed.data["score"] == pytest.approx((0.5 + 1 + 1 + 1) / 4)
        assert changed.data["burn_rate"] == pytest.approx(2)
        shown = {o["name"]: o for o in changed.data["objectives"]}
        assert (
            shown["error_rate"] | {"value": 0.2, "op": "<=", "target": 0.1} == shown["error_rate"]
        )
        assert (shown["completion_rate"]["value"], shown["completion_rate"]["op"]) == (0.8, ">=")
        assert shown["completion_rate"]["burn"] == pytest.approx(1)
        assert (shown["latency_p95"]["value"], shown["availability"]["value"]) == (0, 1)

        async with httpx.AsyncClient(base_url=gateway_url(orch), timeout=30) as client:
            refused = await client.get("/v1/metrics/slo")
            assert refused.status_code == 401
            assert "score" not in refused.text
            answer = await client.get("/v1/metrics/slo", headers=AUTH)
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("application/json")
            assert answer.json()["health"]["status"] == "degraded"
            text = await client.get("/metrics", headers=AUTH)
        got = Scrape(text.text)
        assert got.value("alveary_slo_target", objective="error_rate") == 0.1
        assert got.value("alveary_slo_value", objective="error_rate") == 0.2
        assert got.value("alveary_slo_burn_rate", objective="error_rate") == pytest.approx(2)
        assert got.value("alveary_health_score") == pytest.approx(0.875)

        status, out = await _status(gateway_url(orch))
        assert status == 0
        line = out.splitlines()[1]
        assert line == "health: degraded (score 0.88; error_rate 0.2 > 0.1)"

        await orch.deregister(agent.id, credentials=AUTH)
        clock.advance(3601)  # the tasks leave the window; no agent serves
        critical = await rec.wait_for("slo.health", status="critical", timeout=30)
        assert critical.data["previous"] == "degraded"
        assert {o["name"]: o["value"] for o in critical.data["objectives"]} == {
            "availability": 0.0,
            "latency_p95": None,
            "error_rate": None,
            "completion_rate": None,
        }
        assert critical.data["score"] == pytest.approx(0.1)  # burn (1 - 0) / (1 - 0.9)
        await settle(metrics)
        assert len(rec.of("slo.health")) == 2  # only changes


async def _status(url: str, *argv: str) -> tuple[int, str]:
    """``alveary status`` in a thread (it blocks), and what it printed."""
    out = io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out):
            return cli.status_command(["--url", url, "--token", TOKEN, *argv])

    status = await asyncio.to_thread(run)
    return status, out.getvalue()


@pytest.mark.parametrize(
    ("slo", "expected"),
    [
        ({"availability": 1}, "slo.availability: expected a number in (0, 1), got 1"),
        ({"availability": 0}, "slo.availability: expected a number in (0, 1), got 0"),
        ({"error_rate": float("nan")}, "slo.error_rate: expected a finite number, got nan"),
        ({"completion_rate": "0.9"}, "slo.completion_rate: expected a number"),
        ({"latency_p95": -1}, "slo.latency_p95: expected a number > 0"),
        ({"latency_p95": float("inf")}, "slo.latency_p95: expected a finite number"),
        ({"window": 0}, "slo.window: expected a number > 0"),
        ({"uptime": 0.99}, "slo.uptime: unknown key"),
    ],
)
def test_bad_objectives_are_one_line_naming_their_key(slo: dict[str, Any], expected: str) -> None:
    data = {"plugins": {"enabled": ["metrics"], "metrics": {"slo": slo}}}
    with pytest.raises((alveary.ConfigError, alveary.PluginError)) as info:
        Orchestrator.from_config(data)
    message = str(info.value)
    assert f"plugins.metrics.{expected}" in message, message
    assert "\n" not in message


async def test_without_objectives_there_is_no_slo_page_and_status_shows_no_health() -> None:
    data = {
        "orchestrator": {"shutdown_timeout": 0.5},
        "plugins": {"enabled": ["gateway", "metrics"], "gateway": {"listen": "127.0.0.1:0"}},
    }
    async with Orchestrator.from_config(data, [OneToken(TOKEN)]) as orch:
        async with httpx.AsyncClient(base_url=gateway_url(orch), timeout=30) as client:
            assert (await client.get("/v1/metrics/slo", headers=AUTH)).status_code == 404
        status, out = await _status(gateway_url(orch))
        assert status == 0
        assert "health" not in out
        status, out = await _status(gateway_url(orch), "--json")
        assert json.loads(out)["health"] is None
