"""Where ``/metrics`` is served: the gateway (behind the security plugins), or a loopback
port of its own that holds against peers that misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import alveary
import httpx
import pytest
from alveary import AgentSpec, Orchestrator, PluginError, TaskSpec
from alveary._cli import main
from alveary.testing import OneToken
from alveary_gateway import Gateway
from alveary_metrics import Metrics

from .conftest import Scrape, config, echo, metrics_of, scrape

TOKEN = "open-sesame"


def with_gateway(**metrics: Any) -> dict[str, Any]:
    settings = config(**metrics)
    settings["plugins"]["enabled"] = ["gateway", "metrics"]
    settings["plugins"]["gateway"] = {"listen": "127.0.0.1:0"}
    if not metrics:
        del settings["plugins"]["metrics"]
    return settings


def gateway_url(orch: Orchestrator) -> str:
    gateway = orch.plugins["gateway"]
    assert isinstance(gateway, Gateway)
    return gateway.url


@contextlib.asynccontextmanager
async def gatewayed(settings: dict[str, Any], *plugins: object) -> AsyncIterator[Orchestrator]:
    """The orchestrator, then the gateway's server closed (it stops in the background)."""
    async with Orchestrator.from_config(settings, plugins) as orch:
        yield orch
    gateway = orch.plugins["gateway"]
    assert isinstance(gateway, Gateway)
    assert gateway.server is not None
    await gateway.server.closed


async def test_with_the_gateway_metrics_are_served_there_and_nowhere_else() -> None:
    async with gatewayed(with_gateway()) as orch:
        await orch.register(AgentSpec("a", {"e"}, options={"handler": echo}))
        await (await orch.submit(TaskSpec("k", requires={"e"}))).result(timeout=30)
        got = await scrape(f"{gateway_url(orch)}/metrics")
        assert metrics_of(orch).server is None
        with pytest.raises(alveary.AlvearyError, match="no port of its own"):
            _ = metrics_of(orch).url
        async with httpx.AsyncClient(base_url=gateway_url(orch)) as client:
            spec = (await client.get("/openapi.json")).json()
    assert got.value("alveary_tasks_submitted_total", kind="k") == 1
    assert "/metrics" not in spec["paths"]


async def test_through_the_gateway_the_security_plugins_decide() -> None:
    async with gatewayed(with_gateway(), OneToken(TOKEN)) as orch:
        url = f"{gateway_url(orch)}/metrics"
        async with httpx.AsyncClient(timeout=30) as client:
            refused = await client.get(url)
            wrong = await client.get(url, headers={"authorization": "Bearer nope"})
        got = await scrape(url, authorization=f"Bearer {TOKEN}")
    assert refused.status_code == 401
    assert wrong.status_code == 401
    assert got.value("alveary_events_total", type="security.denied") == 2


async def test_a_listen_of_its_own_serves_beside_the_gateway() -> None:
    async with gatewayed(with_gateway(listen="127.0.0.1:0")) as orch:
        own = await scrape(metrics_of(orch).url)
        shared = await scrape(f"{gateway_url(orch)}/metrics")
    assert own.samples.keys() == shared.samples.keys()


async def test_openmetrics_when_asked() -> None:
    accept = "application/openmetrics-text; version=1.0.0"
    async with Orchestrator.from_config(config()) as orch, httpx.AsyncClient() as client:
        answer = await client.get(metrics_of(orch).url, headers={"accept": accept})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")


async def raw(port: int, data: bytes, *, close: bool = False) -> bytes:
    """What the server answers to ``data`` sent as is (everything until it hangs up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    if close:
        writer.write_eof()
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return answer


async def test_its_own_server_answers_bad_requests_with_one_line() -> None:
    async with Orchestrator.from_config(config()) as orch:
        port = metrics_of(orch).server.address[1]  # type: ignore[union-attr]
        assert (await raw(port, b"garbage\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        assert (await raw(port, b"POST /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405 ")
        assert (await raw(port, b"GET /$(id) HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404 ")
        head = await raw(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert head.endswith(b"\r\n\r\n")  # no body
        assert await raw(port, b"GET /metrics HTTP/1.1\r\nx: " + b"a" * 20_000) == b""
        assert await raw(port, b"GET /metr", close=True) == b""
        # A page that rebound its own name to 127.0.0.1 reads nothing (DNS rebinding).
        for host in [b"-x", b"evil.example", b"evil.example:%d" % port, b"127.0.0.1.nip.io"]:
            rebound = await raw(port, b"GET /metrics HTTP/1.1\r\nHost: %s\r\n\r\n" % host)
            assert rebound.startswith(b"HTTP/1.1 403 "), host
            assert b"alveary_" not in rebound
        got = await raw(port, b"GET /metrics?name[]=x HTTP/1.0\r\nHost: [::1]:9\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 ")
    Scrape(got.partition(b"\r\n\r\n")[2].decode())


async def test_a_peer_that_hangs_does_not_hold_up_the_next_scrape() -> None:
    async with Orchestrator.from_config(config()) as orch:
        host, port = metrics_of(orch).server.address  # type: ignore[union-attr]
        silent = [await asyncio.open_connection(host, port) for _ in range(10)]
        half = await asyncio.open_connection(host, port)
        half[1].write(b"GET /metrics HTTP/1.1\r\n")  # and never the blank line
        got = await scrape(metrics_of(orch).url)
        assert "alveary_queue_depth" in got.samples
        for _, writer in [*silent, half]:
            writer.close()


async def test_a_taken_port_fails_the_start_with_its_reason() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(alveary.StartFailed, match=f"metrics cannot listen on {listen}"):
            async with Orchestrator.from_config(config(listen=listen)):
                pass


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"listen": "0.0.0.0:9464"}, "not a loopback address"),
        ({"listen": "9464"}, "expected 'host:port'"),
        ({"listen": "127.0.0.1:99999"}, "expected 'host:port'"),
        ({"max_kinds": 0}, "expected an integer >= 1"),
        ({"duration_buckets": [1.0, 0.5]}, "increasing finite numbers > 0"),
        ({"wait_buckets": [0.1, float("nan")]}, "expected a finite number"),
        ({"wait_buckets": [0.1, -1]}, "increasing finite numbers > 0"),
        ({"wait_buckets": []}, "increasing finite numbers > 0"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_are_refused_with_their_key(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(PluginError, match=message) as caught:
        Orchestrator.from_config(config(**settings))
    assert "plugins.metrics." in str(caught.value)


def test_an_open_address_is_allowed_when_said_so() -> None:
    orch = Orchestrator.from_config(config(listen="0.0.0.0:0", allow_insecure=True))
    plugin = orch.plugins["metrics"]
    assert isinstance(plugin, Metrics)
    assert plugin.config.listen == "0.0.0.0:0"


class Squatter:
    """Offers a page at a path of the gateway's own."""

    name = "squatter"

    def __init__(self, path: str) -> None:
        self.gateway_pages = {path: Metrics().page}


@pytest.mark.parametrize("path", ["/v1/tasks", "/", "metrics", "/docs"])
async def test_the_gateway_refuses_a_page_at_a_path_not_the_plugins(path: str) -> None:
    with pytest.raises(alveary.StartFailed, match="a path not its own"):
        async with Orchestrator.from_config(with_gateway(), [Squatter(path)]):
            pass


@pytest.mark.parametrize(
    ("gateway", "metrics", "clash"),
    [
        ("127.0.0.1:9464", "127.0.0.1:9464", True),
        ("0.0.0.0:9464", "127.0.0.1:9464", True),
        ("127.0.0.1:9464", "127.0.0.1:9465", False),
        ("127.0.0.1:0", "127.0.0.1:0", False),
    ],
)
def test_alveary_check_refuses_the_gateways_address_as_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gateway: str, metrics: str, clash: bool
) -> None:
    path = tmp_path / "alveary.toml"
    path.write_text(
        '[plugins]\nenabled = ["gateway", "metrics"]\n\n'
        f'[plugins.gateway]\nlisten = "{gateway}"\nallow_insecure = true\n\n'
        f'[plugins.metrics]\nlisten = "{metrics}"\n'
    )
    assert main(["check", "--config", str(path)]) == (2 if clash else 0)
    err = capsys.readouterr().err
    if clash:
        assert err == (
            f"{path}:9: plugins.metrics.listen: {metrics} is the gateway's address too; leave "
            "listen out to serve /metrics on the gateway, or give the metrics another port\n"
        )
