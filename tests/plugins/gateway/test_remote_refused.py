"""A remote agent refused after its hello (not allowed to register under its name) leaves
nothing open behind it: each refusal used to leak the agent's log file."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from pathlib import Path

import alveary
import pytest
from alveary import Denied, Orchestrator, Principal
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .conftest import config, gateway_of


class Gate:
    """A security plugin allowing everything but registering agents named ``intruder``."""

    name = "gate"

    @alveary.hookimpl
    def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool:
        if action == "agent.register" and resource.startswith("intruder"):
            raise Denied(f"{resource} may not register")
        return True


async def test_an_agent_refused_after_its_hello_leaves_no_open_file(tmp_path: Path) -> None:
    settings = config()
    settings["plugins"]["gateway"]["remote"] = {"log_dir": str(tmp_path / "logs")}
    hello = json.dumps({"type": "hello", "protocol": 1, "name": "intruder", "capabilities": ["x"]})
    async with Orchestrator.from_config(settings, [Gate()]) as orch:
        url = gateway_of(orch).url.replace("http://", "ws://") + "/v1/agents/connect"
        for _ in range(3):
            async with connect(url, open_timeout=30) as socket:
                await socket.send(hello)
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(socket.recv(), 30)
            assert (socket.close_code, socket.close_reason) == (
                4403,
                "gate: intruder may not register",
            )
        assert orch.agents() == []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
        assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    server = gateway_of(orch).server
    assert server is not None
    await server.closed
