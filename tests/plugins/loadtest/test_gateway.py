"""``alveary loadtest --url``: a running orchestrator driven through a real gateway on a free
loopback port, in this test's event loop while the command runs in its own process."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alveary import Orchestrator
from alveary_gateway import Gateway

from .conftest import loadtest

PLAN = """
[loadtest]
phases = ["spawn", "delegation", "concurrent", "stress"]
[targets]
spawn_seconds = 120
latency_p95_ms = 10000
[spawn]
pool = "workers"
agents = 6
batch = 3
[delegation]
tasks = 5
[concurrent]
duration = 2
rate = 20
in_flight = 20
[stress]
duration = 3
pattern = "ramp"
rate = 10
to_rate = 100
in_flight = 40
[[mix]]
kind = "echo"
requires = ["pooled"]
work = 0.01
payload = { text = "it's \\"$(id)\\"" }
"""


@pytest.fixture
async def orch() -> AsyncIterator[Orchestrator]:
    config = {
        "orchestrator": {"shutdown_timeout": 1.0, "tick_interval": 0.2},
        "plugins": {"enabled": ["gateway"], "gateway": {"listen": "127.0.0.1:0"}},
        "pools": [
            {
                "name": "workers",
                "runtime": "local",
                "size": {"min": 1, "max": 2},
                "capabilities": ["pooled"],
                "options": {"handler": "alveary_loadtest.agents:work"},
            }
        ],
    }
    async with Orchestrator.from_config(config) as running:
        yield running


def url_of(orch: Orchestrator) -> str:
    gateway = orch.plugins["gateway"]
    assert isinstance(gateway, Gateway)
    return gateway.url


async def test_a_run_through_the_gateway_sizes_the_pool(orch: Orchestrator, tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_text(PLAN)
    status, out, err = await loadtest(
        "plan.toml", "--report", "r.json", cwd=tmp_path, env={"ALVEARY_URL": url_of(orch)}
    )
    assert status == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["target"] == url_of(orch)
    assert report["phases"]["spawn"]["ready"] == 6
    assert [b["agents"] for b in report["phases"]["spawn"]["batches"]] == [3, 3]
    assert report["phases"]["delegation"]["succeeded"] == 5
    assert report["metrics"]["completion"] == 1.0
    pool = orch.pools["workers"]
    assert (pool.size.min, pool.size.max) == (1, 2)  # put back at cleanup
    assert "met    spawn time" in out


async def test_an_unknown_pool_is_one_line(orch: Orchestrator, tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_text(PLAN.replace('"workers"', '"--nope"'))
    status, out, err = await loadtest("plan.toml", "--url", url_of(orch), cwd=tmp_path)
    assert (status, out) == (1, "")
    assert err == "alveary loadtest: no pool named '--nope' (spawn.pool)\n"


async def test_url_mode_needs_a_pool_to_spawn(tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_text("[spawn]\nagents = 3\n")
    status, _, err = await loadtest("plan.toml", "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert status == 2
    assert err == (
        "alveary loadtest: plan.toml: spawn.pool: expected the pool to size with --url\n"
    )


async def test_an_unreachable_gateway_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "plan.toml").write_text(PLAN)
    status, out, err = await loadtest(
        "plan.toml", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path
    )
    assert (status, out) == (1, "")
    assert err == f"alveary loadtest: cannot reach http://127.0.0.1:{port}: connection refused\n"


async def test_a_url_that_is_not_http_is_bad_usage(tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_text(PLAN)
    status, _, err = await loadtest("plan.toml", "--url", "$(id)", cwd=tmp_path)
    assert status == 2
    assert err == "alveary loadtest: --url: expected http://host:port, got '$(id)'\n"
