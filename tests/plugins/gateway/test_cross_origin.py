"""Pages of other sites cannot act through the browser of whoever runs the gateway: requests
that change something and WebSockets from another origin are refused, a loopback gateway
answers only to its own names (DNS rebinding), and ``trusted_origins`` lets chosen pages in,
with CORS. Programs, which send neither ``Origin`` nor ``Sec-Fetch-Site``, are not affected.
(The same in a real browser: ``test_dashboard.py``.)"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from alveary import AgentSpec, Orchestrator, PluginError
from alveary.testing import until
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .conftest import config, echo, gateway_of

TASK = {"kind": "echo", "payload": "$(id) --rm '\"", "requires": ["echo"]}
EVIL = "https://evil.example"


async def submitted(orch: Orchestrator) -> int:
    return orch.metrics().submitted


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 202),  # a program
        ({"origin": EVIL}, 403),
        ({"origin": "null"}, 403),  # a sandboxed frame, a file
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:1"}, 403),
        ({"sec-fetch-site": "same-origin", "origin": "own"}, 202),
        ({"sec-fetch-site": "none"}, 202),  # typed or bookmarked by the user
        ({"origin": "own"}, 202),  # a browser that sends no Sec-Fetch-Site
        ({"origin": "http://127.0.0.1:1"}, 403),  # another port is another origin
    ],
)
async def test_a_request_from_a_page_of_another_origin_changes_nothing(
    headers: dict[str, str], status: int
) -> None:
    async with Orchestrator.from_config(config()) as orch:
        await orch.register(AgentSpec("echoer", {"echo"}, options={"handler": echo}))
        url = gateway_of(orch).url
        if headers.get("origin") == "own":
            headers = {**headers, "origin": url}
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:
            # The body a page can send without a CORS preflight: text/plain.
            plain = {"content-type": "text/plain"}
            answer = await http.post("/v1/tasks", content=json.dumps(TASK), headers=plain)
            assert answer.status_code == status, answer.text
            assert await submitted(orch) == (1 if status == 202 else 0)
            if status == 403:
                error = answer.json()["error"]
                assert error["code"] == "forbidden"
                assert "trusted_origins" in error["message"]
                for method, path in [
                    ("POST", "/v1/agents/echoer/drain"),
                    ("DELETE", "/v1/agents/echoer"),
                    ("PUT", "/v1/pools/p/size"),
                ]:
                    assert (await http.request(method, path)).status_code == 403
                assert orch.agent("echoer").state.value == "ready"
            # Reading is not refused: without CORS the browser keeps the answer from the page.
            assert (await http.get("/v1/agents")).status_code == 200


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", 403),
        ("evil.example:{port}", 403),
        ("127.0.0.1.nip.io:{port}", 403),
        ("127.0.0.1:{port}", 200),
        ("127.0.0.2:{port}", 200),
        ("localhost:{port}", 200),
        ("LOCALHOST", 200),
        ("[::1]:{port}", 200),
    ],
)
async def test_a_loopback_gateway_answers_only_to_names_of_this_machine(
    host: str, status: int
) -> None:
    async with Orchestrator.from_config(config()) as orch:
        url = gateway_of(orch).url
        port = url.rsplit(":", 1)[1]
        async with httpx.AsyncClient(base_url=url) as http:
            for path in ["/v1/agents", "/v1/events?type=none", "/", "/openapi.json"]:
                headers = {"host": host.format(port=port)}
                if path.startswith("/v1/events"):
                    async with http.stream("GET", path, headers=headers) as answer:
                        assert answer.status_code == status, path
                    continue
                answer = await http.get(path, headers=headers)
                assert answer.status_code == status, path
                if status == 403:  # a page that rebound its name to 127.0.0.1 reads nothing
                    assert "does not name this machine" in answer.json()["error"]["message"]


async def test_a_gateway_open_to_the_network_takes_any_host_but_still_no_foreign_page() -> None:
    settings = config(listen="0.0.0.0:0", allow_insecure=True)
    async with Orchestrator.from_config(settings) as orch:
        port = gateway_of(orch).url.rsplit(":", 1)[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            named = await http.get("/v1/agents", headers={"host": f"orchestrator.lan:{port}"})
            assert named.status_code == 200
            foreign = await http.post("/v1/tasks", json=TASK, headers={"origin": EVIL})
            assert foreign.status_code == 403


async def test_a_websocket_from_a_page_of_another_origin_is_refused() -> None:
    async with Orchestrator.from_config(config()) as orch:
        url = gateway_of(orch).url.replace("http://", "ws://") + "/v1/agents/connect"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, origin=EVIL, open_timeout=30):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        rebound = url.replace("127.0.0.1", "localhost")
        async with connect(rebound, open_timeout=30) as socket:  # a program: no Origin
            hello = {"type": "hello", "protocol": 1, "name": "far", "capabilities": ["x"]}
            await socket.send(json.dumps(hello))
            await until(lambda: [agent.name for agent in orch.agents()] == ["far"], timeout=30)


async def test_trusted_origins_get_cors_answers_and_may_act() -> None:
    trusted = "https://tools.example:8443"
    settings = config(trusted_origins=["HTTPS://Tools.Example:8443"])
    async with Orchestrator.from_config(settings) as orch:
        await orch.register(AgentSpec("echoer", {"echo"}, options={"handler": echo}))
        async with httpx.AsyncClient(base_url=gateway_of(orch).url) as http:
            preflight = await http.options(
                "/v1/tasks",
                headers={
                    "origin": trusted,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "authorization, content-type",
                },
            )
            assert preflight.status_code in (200, 204)
            assert preflight.headers["access-control-allow-origin"] == trusted
            allowed = preflight.headers["access-control-allow-headers"].lower()
            assert "authorization" in allowed
            assert "content-type" in allowed
            answer = await http.post(
                "/v1/tasks", json=TASK, headers={"origin": trusted, "sec-fetch-site": "cross-site"}
            )
            assert answer.status_code == 202
            assert answer.headers["access-control-allow-origin"] == trusted
            other = await http.post("/v1/tasks", json=TASK, headers={"origin": EVIL})
            assert other.status_code == 403
            assert "access-control-allow-origin" not in other.headers
            no_cors = await http.options(
                "/v1/tasks", headers={"origin": EVIL, "access-control-request-method": "POST"}
            )
            assert "access-control-allow-origin" not in no_cors.headers


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (["*"], "expected an origin like https://host:port, got '*'"),
        (["https://tools.example/app"], "got 'https://tools.example/app'"),
        (["null"], "got 'null'"),
        (["ftp://tools.example"], "got 'ftp://tools.example'"),
        (["https://tools.example:port"], "got 'https://tools.example:port'"),
        (["https://user@tools.example"], "got 'https://user@tools.example'"),
        ([3], "trusted_origins[0]: expected a string, got 3"),
        ("https://tools.example", "expected a list, got 'https://tools.example'"),
    ],
)
def test_bad_trusted_origins_are_one_line(value: Any, says: str) -> None:
    with pytest.raises(PluginError) as caught:
        Orchestrator.from_config(config(trusted_origins=value))
    assert "plugins.gateway.trusted_origins" in str(caught.value)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)
