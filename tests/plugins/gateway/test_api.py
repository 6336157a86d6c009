"""Every endpoint of the gateway against a real server on loopback."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import alveary
import httpx
import pytest
from alveary import Orchestrator, TaskState
from alveary._cli import main

from .conftest import Served, config


def error(response: httpx.Response, status: int, code: str, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code
    assert body["field"] == field
    message: str = body["message"]
    assert message
    return message


async def submit(served: Served, **body: Any) -> dict[str, Any]:
    response = await served.client.post("/v1/tasks", json={"kind": "echo", **body})
    assert response.status_code == 202, response.text
    record: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/tasks/{record['id']}"
    return record


async def test_a_task_submitted_over_http_runs_and_its_result_is_read_back(served: Served) -> None:
    record = await submit(served, payload={"n": 1}, requires=["echo"], priority="high")
    assert record["kind"] == "echo"
    assert record["priority"] == "high"
    done = await served.client.get(f"/v1/tasks/{record['id']}/result", params={"wait": 10})
    assert done.status_code == 200
    assert done.json()["state"] == "succeeded"
    assert done.json()["value"] == {"n": 1}
    again = await served.client.get(f"/v1/tasks/{record['id']}")
    assert again.json()["attempts"] == 1
    assert again.json()["agent_id"] == served.orch.agent("echoer").id


async def test_a_long_poll_that_runs_out_answers_202_with_the_task_as_it_is(
    served: Served,
) -> None:
    record = await submit(served, requires=["hang"])
    waited = await served.client.get(f"/v1/tasks/{record['id']}/result", params={"wait": 0.05})
    assert waited.status_code == 202
    assert waited.json()["state"] in {"assigned", "running"}
    cancelled = await served.client.delete(f"/v1/tasks/{record['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled"] is True
    ended = await served.client.get(f"/v1/tasks/{record['id']}/result", params={"wait": 10})
    assert ended.json()["state"] == "cancelled"
    twice = await served.client.delete(f"/v1/tasks/{record['id']}")
    assert twice.json()["cancelled"] is False


async def test_a_long_poll_returns_as_soon_as_the_task_ends(served: Served) -> None:
    record = await submit(served, requires=["hang"])
    poll = asyncio.ensure_future(
        served.client.get(f"/v1/tasks/{record['id']}/result", params={"wait": 30})
    )
    await asyncio.sleep(0.05)
    assert not poll.done()
    await served.orch.cancel(record["id"])
    answer = await poll
    assert answer.status_code == 200
    assert answer.json()["state"] == "cancelled"


async def poll_through_stop(settings: dict[str, Any]) -> httpx.Response:
    """The answer to a long poll of a task nothing can take, sent before the stop."""
    orch = Orchestrator.from_config(settings)
    async with orch:
        gateway = orch.plugins["gateway"]
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
            record = (await client.post("/v1/tasks", json={"kind": "x", "requires": ["no"]})).json()
            poll = asyncio.ensure_future(
                client.get(f"/v1/tasks/{record['id']}/result", params={"wait": 60})
            )
            await asyncio.sleep(0.05)
            assert not poll.done()
            stopping = asyncio.ensure_future(orch.stop())
            answer = await poll
            await stopping
    return answer


async def test_a_long_poll_open_when_the_orchestrator_stops_is_answered(tmp_path: Path) -> None:
    """A durable store keeps the task: 503, not cut off by the server's stop (a 500 and a
    traceback in its log, before). The memory store cancels it: 200 with the record."""
    answer = await poll_through_stop(config())
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "cancelled"

    durable = config()
    durable["orchestrator"]["store"] = "sqlite"
    durable["plugins"]["enabled"].append("state")
    durable["plugins"]["state"] = {"path": str(tmp_path / "tasks.db")}
    answer = await poll_through_stop(durable)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == {
        "code": "unavailable",
        "message": "the orchestrator is stopping",
        "field": None,
    }


async def test_a_dead_task_is_requeued_and_a_live_one_is_a_conflict(served: Served) -> None:
    record = await submit(served, requires=["boom"], kind="boom")
    done = await served.client.get(f"/v1/tasks/{record['id']}/result", params={"wait": 10})
    assert done.json()["state"] == "failed"
    assert "broken on purpose" in done.json()["error"]
    again = await served.client.post(f"/v1/tasks/{record['id']}/requeue")
    assert again.status_code == 202
    assert again.json()["state"] in {"pending", "queued", "assigned", "running", "failed"}
    live = await submit(served, requires=["hang"])
    refused = await served.client.post(f"/v1/tasks/{live['id']}/requeue")
    assert "only dead or failed" in error(refused, 409, "conflict")


async def test_tasks_are_listed_by_state_and_kind_a_page_at_a_time(served: Served) -> None:
    ids = [(await submit(served, requires=["echo"], payload=i))["id"] for i in range(5)]
    for task_id in ids:
        await served.orch.task(task_id).result(timeout=10)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"state": "succeeded", "kind": "echo", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await served.client.get("/v1/tasks", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids
    other = await served.client.get("/v1/tasks", params={"kind": "nothing"})
    assert other.json() == {"items": [], "next": None}
    bad = await served.client.get("/v1/tasks", params={"state": "sleeping"})
    error(bad, 422, "invalid", "state")
    bad = await served.client.get("/v1/tasks", params={"cursor": "$(rm -rf /)"})
    error(bad, 422, "invalid", "cursor")
    bad = await served.client.get("/v1/tasks", params={"limit": 0})
    error(bad, 422, "invalid", "limit")


async def test_agents_are_listed_drained_and_removed(served: Served) -> None:
    listed = (await served.client.get("/v1/agents")).json()
    names = {a["name"] for a in listed}
    assert {"echoer", "hanger", "breaker", "workers-1"} <= names
    one = await served.client.get("/v1/agents/echoer")
    assert one.json()["capabilities"] == ["echo"]
    assert one.json()["capacity"] == 8
    assert one.json()["state"] == "ready"
    drained = await served.client.post("/v1/agents/echoer/drain", params={"timeout": 5})
    assert drained.json() == {"drained": True}
    assert served.orch.agent("echoer").state.value == "draining"
    removed = await served.client.delete("/v1/agents/echoer")
    assert removed.status_code == 204
    error(await served.client.get("/v1/agents/echoer"), 404, "not_found")
    error(await served.client.delete("/v1/agents/echoer"), 404, "not_found")
    error(
        await served.client.post("/v1/agents/x/drain", params={"timeout": -1}),
        422,
        "invalid",
        "timeout",
    )


async def test_pools_are_listed_and_resized(served: Served) -> None:
    pools = (await served.client.get("/v1/pools")).json()
    assert [p["name"] for p in pools] == ["workers"]
    assert pools[0]["min"] == 1
    assert pools[0]["metrics"]["agents"] == 1
    resized = await served.client.put("/v1/pools/workers/size", json={"min": 2, "max": 4})
    assert resized.status_code == 200, resized.text
    assert (resized.json()["min"], resized.json()["max"], resized.json()["desired"]) == (2, 4, 2)
    assert served.orch.pools["workers"].desired == 2
    bad = await served.client.put("/v1/pools/workers/size", json={"min": 3, "max": 1})
    error(bad, 422, "invalid", "max")
    bad = await served.client.put("/v1/pools/workers/size", json={"min": -1})
    error(bad, 422, "invalid", "min")
    bad = await served.client.put("/v1/pools/workers/size", json={"min": 1, "max": 10**9})
    error(bad, 422, "invalid", "max")  # [orchestrator] max_pool_size
    error(await served.client.put("/v1/pools/none/size", json={"min": 1}), 404, "not_found")


async def test_health_readiness_and_the_openapi_document(served: Served) -> None:
    health = (await served.client.get("/v1/health")).json()
    assert health == {"ok": True, "leader": None, "missing": None}
    ready = await served.client.get("/v1/ready")
    assert ready.status_code == 200
    document = (await served.client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    for path in ("/v1/tasks", "/v1/tasks/{task_id}/result", "/v1/events", "/v1/pools/{name}/size"):
        assert path in document["paths"]
    assert "TaskRecord" in document["components"]["schemas"]
    paths = document["paths"]
    assert set(paths["/v1/ready"]["get"]["responses"]) == {"200", "503"}
    assert "202" in paths["/v1/tasks/{task_id}/result"]["get"]["responses"]
    for path, method, status in [
        ("/v1/tasks", "post", "400"),  # Litestar documented its own shape for 400
        ("/v1/tasks", "post", "422"),
        ("/v1/tasks/{task_id}", "get", "404"),
        ("/v1/tasks/{task_id}/requeue", "post", "409"),
        ("/v1/pools/{name}/size", "put", "413"),
        ("/v1/agents", "get", "403"),
    ]:
        content = paths[path][method]["responses"][status]["content"]
        schema = content["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    docs = await served.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_unknown_things_are_404_in_the_error_shape(served: Served) -> None:
    error(await served.client.get("/v1/tasks/nope"), 404, "not_found")
    error(await served.client.get("/v1/tasks/nope/result"), 404, "not_found")
    error(await served.client.delete("/v1/tasks/nope"), 404, "not_found")
    error(await served.client.post("/v1/tasks/nope/requeue"), 404, "not_found")
    message = error(await served.client.get("/v1/nothing"), 404, "not_found")
    assert message == "no route GET /v1/nothing here (see /openapi.json)"
    refused = await served.client.patch("/v1/tasks")
    message = error(refused, 405, "method_not_allowed")
    assert message.startswith("PATCH is not allowed on /v1/tasks (allowed: ")
    assert sorted(refused.headers["allow"].split(", ")) == ["GET", "OPTIONS", "POST"]


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v1/tasks", "GET, OPTIONS, POST"),
        ("/v1/tasks/x", "DELETE, GET, OPTIONS"),
        ("/v1/agents/x", "DELETE, GET, OPTIONS"),
        ("/v1/tasks/x/result", "GET, OPTIONS"),
    ],
)
async def test_options_lists_every_method_of_a_path(
    served: Served, path: str, methods: str
) -> None:
    """Litestar 2 answered only the first handler's method for a path several share."""
    response = await served.client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == methods


async def test_the_state_of_a_task_is_in_the_kernel_too(served: Served) -> None:
    record = await submit(served, requires=["echo"])
    outcome = await served.orch.task(record["id"]).result(timeout=10)
    assert outcome.state is TaskState.SUCCEEDED


async def test_a_gateway_that_cannot_listen_fails_the_start() -> None:
    """A port in use fails the start: the orchestrator does not run without the API it was
    asked to serve. An address open to the network with no security plugin is a config
    problem, found before anything starts."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = Orchestrator.from_config(config(listen=f"127.0.0.1:{port}"))
        with pytest.raises(alveary.StartFailed, match=rf"cannot listen on 127\.0\.0\.1:{port}"):
            await busy.start()
    with pytest.raises(alveary.ConfigError) as refused:
        Orchestrator.from_config(config(listen="0.0.0.0:0"))
    assert refused.value.lines == [
        "<config>: plugins.gateway.listen: refusing to listen on 0.0.0.0:0 without a security "
        "plugin: anyone reaching it could run work; listen on 127.0.0.1, enable one, or set "
        "[plugins.gateway] allow_insecure = true"
    ]


class Guard:
    name = "guard"

    @alveary.hookimpl
    def alveary_authorize(self) -> bool:
        return True


def test_alveary_check_refuses_an_open_listen_without_a_security_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "alveary.toml"
    path.write_text(
        '[plugins]\nenabled = ["gateway"]\n\n[plugins.gateway]\nlisten = "0.0.0.0:8787"\n'
    )
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:5: plugins.gateway.listen: refusing to listen on 0.0.0.0:8787")
    assert len(err.splitlines()) == 1
    open_ = Orchestrator.from_config(config(listen="0.0.0.0:0", allow_insecure=True))
    guarded = Orchestrator.from_config(config(listen="0.0.0.0:0"), plugins=[Guard()])
    assert "gateway" in open_.plugins
    assert "guard" in guarded.plugins


async def test_the_server_sends_without_waiting_for_acks(served: Served) -> None:
    """TCP_NODELAY on every connection: without it each answer written in two parts waited for
    the client's delayed ACK, 40 ms a request (asyncio sets it only on sockets that name
    IPPROTO_TCP)."""
    assert (await served.client.get("/v1/health")).status_code == 200
    server = served.gateway.server
    assert server is not None
    connections = server._server.server_state.connections
    assert connections
    for connection in connections:
        sock = connection.transport.get_extra_info("socket")  # type: ignore[attr-defined]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
