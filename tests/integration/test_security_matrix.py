"""Every operation of the gateway's live HTTP surface against the security plugin: no
credentials, forged tokens, a revoked key, a role without the action, a role without the
capability, and the right role; the WebSocket where remote agents connect; the Python API.
Every refusal is audited and counted as an event, and no secret shows up anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import alveary
import httpx
import pytest
from alveary import AgentSpec, Denied, PoolSize, TaskSpec
from alveary.testing import until
from alveary_security import KeyStore
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .secured import (
    NOBODY,
    ROUTES,
    SECRET,
    SECRET_ENV,
    World,
    bearer,
    forged,
    send,
    served,
    token,
)

PAGES = {
    "/",
    "/docs",
    "/openapi.json",
    "/{path:str}",
    "/dashboard.js",
    "/dashboard.css",
    "/favicon.svg",
    "/oauth2-redirect.html",
}
"""Routes that are no API operation: the dashboard's static files and the OpenAPI pages."""
CONNECT = "/v1/agents/connect"
CATEGORY = {"task": "authorization", "events": "authorization"}
"""A refused action of these families is ``authorization``; of the others,
``privilege_escalation``."""


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    async with served(tmp_path) as running:
        yield running


async def test_the_table_names_every_route_the_server_answers(world: World) -> None:
    document = (await world.http.get("/openapi.json")).json()
    operations = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }
    assert operations == set(ROUTES), "add the new operation to ROUTES in secured.py"
    assert {r.action for r in ROUTES.values()} - {None} <= set(alveary.ACTIONS)
    gateway: Any = world.orch.plugins["gateway"]
    paths = {route.path.replace(":str}", "}") for route in gateway.server.app.routes}
    api = {operation.partition(" ")[2] for operation in ROUTES}
    assert paths - api == {p.replace(":str}", "}") for p in PAGES} | {CONNECT}
    for page in PAGES - {"/{path:str}"}:  # static, and public by design
        assert (await world.http.get(page)).status_code == 200, page


def error(answer: httpx.Response, status: int, code: str) -> str:
    """The message of a refusal, once its status and shape are right."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert list(body) == ["error"], body
    assert set(body["error"]) == {"code", "message", "field"}, body
    assert body["error"]["code"] == code, body
    assert answer.headers["content-type"].startswith("application/json")
    return str(body["error"]["message"])


@pytest.mark.parametrize("operation", sorted(ROUTES))
async def test_each_operation_admits_only_the_right_role(world: World, operation: str) -> None:
    route = ROUTES[operation]
    http = world.http
    if route.action is None:
        assert (await send(http, operation, await route.prepare(world), {})).status_code == 200
        return
    action = route.action
    other = next(a for a in alveary.ACTIONS if a != action)
    call = await route.prepare(world)
    shown = [SECRET, *world.keys.values()]
    bodies = []

    async def refused(headers: dict[str, str], status: int, code: str) -> str:
        answer = await send(http, operation, call, headers)
        bodies.append(answer.text)
        return error(answer, status, code)

    assert "no credentials" in await refused({}, 401, "unauthenticated")
    for why, value in forged().items():
        shown.append(value)
        message = await refused(bearer(value), 401, "unauthenticated")
        assert "invalid token" in message, why

    gone = world.keys["gone"]
    assert (await http.get("/v1/pools", headers={"x-api-key": gone})).status_code == 200
    assert KeyStore(str(world.folder / "keys.json")).revoke("gone")
    security: Any = world.orch.plugins["security"]
    await until(lambda: all(k.name != "gone" for k in security.keys.listed()), 30)
    unknown = gone[:-8] + "AAAAAAAA"
    shown.append(unknown)
    for headers in ({"x-api-key": gone}, bearer(gone), {"x-api-key": unknown}):
        assert "unknown or revoked API key" in await refused(headers, 401, "unauthenticated")

    lacking = token("lacking", [f"only-{other}"])
    narrow = token("narrow", [f"narrow-{action}"])
    right = token("right", [f"only-{action}"])
    shown += [lacking, narrow, right]
    missing = f"allows {action} (roles: only-{other})"
    assert (
        await refused(bearer(lacking), 403, "forbidden")
        == f"security: no role of lacking {missing}"
    )
    by_key = await refused({"x-api-key": world.keys[f"only-{other}"]}, 403, "forbidden")
    assert by_key == f"security: no role of key:only-{other} {missing}"
    assert await refused(bearer(narrow), 403, "forbidden") == (
        f"security: no role of narrow allows {action} on {call.resource!r} "
        f"(capabilities narrow-{action}: {NOBODY})"
    )

    for headers in (bearer(right), {"x-api-key": world.keys[f"only-{action}"]}):
        answer = await send(http, operation, await route.prepare(world), headers)
        assert answer.status_code == route.status, answer.text
        if answer.status_code != 200 or "event-stream" not in answer.headers["content-type"]:
            bodies.append(answer.text)

    expected = {("none", None): 1, ("jwt", None): 6, ("api_key", None): 3}
    expected |= {("lacking", action): 1, (f"key:only-{other}", action): 1}
    expected |= {("narrow", action): 1}
    await until(lambda: denials(world) == expected, 60)  # written behind, from a thread
    categories = {e["category"] for e in world.entries() if e.get("action") and is_denied(e)}
    assert categories == {CATEGORY.get(action.partition(".")[0], "privilege_escalation")}
    events = [e for e in world.recorder.events if e.type == "security.denied"]
    assert len(events) == sum(expected.values())
    assert {e.data["action"] for e in events} == {action}
    events_text = json.dumps([dict(e.data) for e in world.recorder.events], default=str)
    audit_text = world.audit.read_text(encoding="utf-8")
    for secret in shown:
        value = secret.removeprefix("Bearer ")
        signature = value.rsplit(".", 1)[-1] or value  # an unsigned token has none
        for where, text in (("audit", audit_text), ("events", events_text)):
            assert value not in text, where
            assert signature not in text, where
        assert not any(value in body for body in bodies)


@pytest.mark.parametrize("operation", sorted(o for o in ROUTES if "{" in o))
async def test_an_unknown_id_is_not_told_apart_from_a_known_one_without_credentials(
    world: World, operation: str
) -> None:
    """Task ids are guessable (an instance prefix and a counter): a caller who cannot
    authenticate gets 401 for an id that does not exist, as for one that does."""
    route = ROUTES[operation]
    assert route.action is not None
    known = await route.prepare(world)
    unknown = known._replace(path=known.path.replace(known.path.split("/")[3], "nosuch-1", 1))
    for call in (known, unknown):
        error(await send(world.http, operation, call, {}), 401, "unauthenticated")
        for value in forged().values():
            error(await send(world.http, operation, call, bearer(value)), 401, "unauthenticated")
    right = token("right", [f"only-{route.action}"])
    error(await send(world.http, operation, unknown, bearer(right)), 404, "not_found")


def is_denied(entry: dict[str, Any]) -> bool:
    return entry.get("event") == "denied"


def denials(world: World) -> dict[tuple[str, str | None], int]:
    """Refusals in the audit log, by method (not authenticated) or principal and action."""
    found: dict[tuple[str, str | None], int] = {}
    for entry in world.entries():
        if is_denied(entry):
            who = entry["method"] if entry["category"] == "authentication" else entry["principal"]
            key = (who, entry.get("action"))
            found[key] = found.get(key, 0) + 1
    return found


def ws_url(world: World) -> str:
    return str(world.http.base_url).replace("http", "ws", 1).rstrip("/") + CONNECT


def hello(name: str) -> str:
    return json.dumps({"type": "hello", "protocol": 1, "name": name, "capabilities": ["far"]})


async def closed_with(world: World, headers: dict[str, str], name: str) -> tuple[int, str]:
    """Connect with ``headers``, say hello as ``name``: the close code and reason."""
    async with connect(ws_url(world), open_timeout=30, additional_headers=headers) as socket:
        with contextlib.suppress(ConnectionClosed):  # refused before the hello: it may be late
            await socket.send(hello(name))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 30)
    assert socket.close_code is not None
    return socket.close_code, socket.close_reason or ""


async def test_remote_agents_need_a_token_allowed_to_register(world: World) -> None:
    code, reason = await closed_with(world, {}, "anon")
    assert (code, reason) == (
        4401,
        "security: not authenticated: no credentials (authorization or x-api-key)",
    )
    for why, value in forged().items():
        code, reason = await closed_with(world, bearer(value), "forger")
        assert code == 4401, why
        assert reason.startswith("security: not authenticated: invalid token"), why
    lacking = token("lacking", ["only-agent.read"])
    code, reason = await closed_with(world, bearer(lacking), "intruder")
    assert code == 4403
    assert reason == "security: no role of lacking allows agent.register (roles: only-agent.read)"
    narrow = token("narrow", ["narrow-agent.register"])
    code, reason = await closed_with(world, bearer(narrow), "outsider")
    assert (code, reason[:52]) == (4403, "security: no role of narrow allows agent.register on")
    assert not {"anon", "forger", "intruder", "outsider"} & {a.name for a in world.orch.agents()}

    right = token("far", ["only-agent.register"])
    headers = bearer(right)
    async with connect(ws_url(world), open_timeout=30, additional_headers=headers) as socket:
        await socket.send(hello("far-1"))
        await until(lambda: any(a.name == "far-1" for a in world.orch.agents()), 30)
    await until(lambda: all(a.name != "far-1" for a in world.orch.agents()), 30)

    def refused() -> list[dict[str, Any]]:
        return [e for e in world.entries() if is_denied(e)]

    # the admission pre-check (agent.register on *) and the check by name, for each role
    await until(lambda: len(refused()) == 1 + 6 + 2 + 2, 60)
    text = world.audit.read_text(encoding="utf-8")
    assert right not in text
    assert all(value not in text for value in forged().values())


async def test_the_python_api_refuses_bad_credentials(world: World) -> None:
    orch = world.orch
    victim = await world.agent()
    parked = await world.task("parked")
    dead = await world.task("boom", finished=True)
    waiting = await world.waiting()
    bad = [
        None,
        {},
        *(bearer(v) for v in forged().values()),
        bearer(token("x", ["only-pool.read"])),
    ]
    for credentials in bad:
        creds = (
            {k.lower(): v for k, v in (credentials or {}).items()} if credentials else credentials
        )
        for attempt in (
            orch.cancel(parked, credentials=creds),
            orch.deregister(victim, credentials=creds),
            orch.drain(victim, credentials=creds),
            orch.resize("workers", PoolSize(0, 9), credentials=creds),
            orch.requeue(dead, credentials=creds),
            orch.decide(waiting, True, credentials=creds),
            orch.submit(TaskSpec("echo"), credentials=creds),
            orch.register(AgentSpec("sneak", {"x"}, options={"handler": "x:y"}), credentials=creds),
        ):
            with pytest.raises(Denied):
                await attempt
        if credentials is not bad[-1]:  # not authenticated: not told what does not exist
            for attempt in (
                orch.cancel("nosuch-1", credentials=creds),
                orch.deregister("nosuch", credentials=creds),
                orch.drain("nosuch", credentials=creds),
                orch.requeue("nosuch-1", credentials=creds),
                orch.decide("nosuch-1", True, credentials=creds),
            ):
                with pytest.raises(Denied):
                    await attempt
    assert orch.get_task(parked).state.value in {"pending", "queued"}
    assert orch.get_task(dead).state.value == "failed"
    assert orch.agent(victim).state.value == "ready"
    assert orch.pools["workers"].size == PoolSize(1, 2)
    assert any(a.task_id == waiting for a in orch.approvals())
    assert "sneak" not in {a.name for a in orch.agents()}
