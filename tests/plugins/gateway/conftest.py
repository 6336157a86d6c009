"""A real orchestrator with the gateway on a free loopback port, and an HTTP client for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import alveary
import httpx
import pytest
from alveary import AgentSpec, Orchestrator
from alveary_gateway import Gateway


async def echo(task: alveary.Task) -> Any:
    await asyncio.sleep(0)
    return task.payload


async def hang(task: alveary.Task) -> Any:
    await asyncio.Event().wait()


async def boom(task: alveary.Task) -> Any:
    raise alveary.PermanentFailure("broken on purpose")


def config(**gateway: Any) -> dict[str, Any]:
    settings = {"listen": "127.0.0.1:0", **gateway}
    return {
        "orchestrator": {"shutdown_timeout": 0.5},  # hanging agents are not waited for long
        "plugins": {"enabled": ["gateway"], "gateway": settings},
    }


def gateway_of(orch: Orchestrator) -> Gateway:
    plugin = orch.plugins["gateway"]
    assert isinstance(plugin, Gateway)
    return plugin


class Served:
    """The orchestrator, its gateway and a client talking to it."""

    def __init__(self, orch: Orchestrator, client: httpx.AsyncClient) -> None:
        self.orch, self.client = orch, client
        self.gateway = gateway_of(orch)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    orch = Orchestrator.from_config({**config(sse_buffer=16, max_body=4096), "pools": [pool()]})
    async with orch:
        await orch.register(AgentSpec("echoer", {"echo"}, capacity=8, options={"handler": echo}))
        await orch.register(AgentSpec("hanger", {"hang"}, options={"handler": hang}))
        await orch.register(AgentSpec("breaker", {"boom"}, options={"handler": boom}))
        url = gateway_of(orch).url
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Served(orch, client)
    server = gateway_of(orch).server
    assert server is not None
    await server.closed


def pool() -> dict[str, Any]:
    return {
        "name": "workers",
        "runtime": "local",
        "size": {"min": 1, "max": 3},
        "capabilities": ["pooled"],
        "options": {"handler": f"{__name__}:echo"},
    }
