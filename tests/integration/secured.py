"""A real orchestrator with the gateway and the security plugin (HS256 tokens from the
environment, API keys in a keys file, one role per action), a few local agents, and the table
of every HTTP operation the gateway serves: the action it is checked as, and how to make a
valid request for it. The security matrix and the fault tests share it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import alveary
import httpx
import jwt
from alveary import AgentSpec, Orchestrator, TaskSpec
from alveary.testing import EventRecorder, until
from alveary_security import KeyStore

SECRET = "matrix-secret-" * 4
SECRET_ENV = "ALVEARY_MATRIX_SECRET"
ISSUER = "https://auth.example"
NOBODY = "elsewhere"
"""The only capability of the ``narrow-*`` roles: no kind, agent or pool has this name."""

ROLES: dict[str, dict[str, Any]] = {"operator": {"allow": ["*"]}}
OVER_ALL = ("pool.read", "events.read")
"""Actions whose resource is always ``*``: naming one beside capabilities is a config error
(it grants nothing), so their narrow roles get it from a family (``pool.*``)."""
for _action in alveary.ACTIONS:
    ROLES[f"only-{_action}"] = {"allow": [_action]}
    _granted = f"{_action.split('.')[0]}.*" if _action in OVER_ALL else _action
    ROLES[f"narrow-{_action}"] = {"allow": [_granted], "capabilities": [NOBODY]}


def token(sub: str, roles: list[str], *, secret: str = SECRET, **changes: Any) -> str:
    """An HS256 token; ``changes`` replace claims (``None`` drops one)."""
    now = int(time.time())
    claims = {"sub": sub, "roles": roles, "aud": "alveary", "iss": ISSUER}
    claims |= {"exp": now + 600, "iat": now, **changes}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, "HS256")


def unsigned(**claims: Any) -> str:
    """A token with ``alg: none`` and no signature."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def forged() -> dict[str, str]:
    """Tokens that must be refused, each claiming the operator role, by what is wrong."""
    now = int(time.time())
    return {
        "bad signature": token("mallory", ["operator"], secret="not-the-secret-" * 3),
        "alg none": unsigned(
            sub="mallory", roles=["operator"], aud="alveary", iss=ISSUER, exp=now + 600
        ),
        "expired": token("mallory", ["operator"], exp=now - 3600),
        "wrong audience": token("mallory", ["operator"], aud="someone-else"),
        "wrong issuer": token("mallory", ["operator"], iss="https://evil.example"),
        "nbf in the future": token("mallory", ["operator"], nbf=now + 3600),
    }


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def echo(task: alveary.Task) -> Any:
    return task.payload


async def boom(task: alveary.Task) -> Any:
    raise alveary.PermanentFailure("broken on purpose")


def config(folder: Path, jwt_keys: dict[str, Any] | None, **orchestrator: Any) -> dict[str, Any]:
    """The settings; ``jwt_keys`` replace the key source (an HS256 secret in ``SECRET_ENV``)."""
    security = {
        "keys_file": str(folder / "keys.json"),
        "audit_log": str(folder / "audit.jsonl"),
        "jwt": {
            "audience": "alveary",
            "issuer": ISSUER,
            **(jwt_keys or {"secret_env": SECRET_ENV}),
        },
        "roles": ROLES,
        "limits": {"rate": 1e6, "burst": 10**6, "failures": 10**6},  # not what is tested here
    }
    # A budget a loaded machine keeps: these tests check who may do what. A hook that overruns
    # is refused as unavailable (503); test_security_faults sets a tight budget on purpose.
    settings = {"shutdown_timeout": 2, "tick_interval": 0.05, "hook_timeout": 2.0}
    return {
        "orchestrator": {**settings, **orchestrator},
        "plugins": {
            "enabled": ["gateway", "security", "subprocess"],
            "gateway": {"listen": "127.0.0.1:0", "remote": {"log_dir": str(folder / "remote")}},
            "security": security,
            "subprocess": {"log_dir": str(folder / "logs")},
        },
        "pools": [
            {
                "name": "workers",
                "runtime": "local",
                "capabilities": ["pooled"],
                "size": {"min": 1, "max": 2},
                "options": {"handler": "alveary.testing:echo"},
            },
            {  # a command the guard holds for approval: one approve or reject per task
                "name": "piped",
                "runtime": "subprocess",
                "capabilities": ["piped"],
                "capacity": 16,
                "options": {"shell": "echo {word} | sh"},
            },
        ],
    }


class World:
    """The running orchestrator, an HTTP client for its gateway, and fresh objects to act on
    (made with the operator's credentials through the Python API)."""

    def __init__(self, orch: Orchestrator, http: httpx.AsyncClient, folder: Path) -> None:
        self.orch, self.http, self.folder = orch, http, folder
        self.operator: dict[str, str] = {}
        """The credentials of ``root``, an API key with the operator role."""
        self.recorder: EventRecorder = orch.plugins["recorder"]  # type: ignore[assignment]
        self.keys: dict[str, str] = {}
        """API keys by name: one per role ``only-ACTION``, named after it; ``root`` and ``gone``
        with the operator role."""
        self._made = 0

    @property
    def audit(self) -> Path:
        return self.folder / "audit.jsonl"

    def entries(self) -> list[dict[str, Any]]:
        """The audit log's entries written so far: complete lines only, since the log is
        written from a thread while the test reads it."""
        text = self.audit.read_text(encoding="utf-8") if self.audit.exists() else ""
        return [json.loads(line) for line in text.split("\n")[:-1]]

    def _name(self, prefix: str) -> str:
        self._made += 1
        return f"{prefix}-{self._made}"

    async def agent(self) -> str:
        name = self._name("victim")
        spec = AgentSpec(name, frozenset({"spare"}), options={"handler": echo})
        await self.orch.register(spec, credentials=self.operator)
        return name

    async def task(self, kind: str, payload: Any = None, *, finished: bool = False) -> str:
        spec = TaskSpec(kind, payload, requires=frozenset({kind}), max_attempts=1)
        handle = await self.orch.submit(spec, credentials=self.operator)
        if finished:
            await handle.result(timeout=60)
        return handle.id

    async def waiting(self) -> str:
        """A task whose command waits for an approval."""
        task_id = await self.task("piped", {"word": "true"})
        await until(lambda: any(a.task_id == task_id for a in self.orch.approvals()), 60)
        return task_id


class Call(NamedTuple):
    """A valid request: path, the resource it is checked on, and its body or query."""

    path: str
    resource: str
    body: Any = None
    params: dict[str, Any] | None = None


class Route(NamedTuple):
    """An operation: its action (None: public), how to make a valid request for it (fresh
    objects each time: cancelling or removing twice is not the same request) and the status
    the right role gets."""

    action: str | None
    prepare: Callable[[World], Awaitable[Call]]
    status: int


async def _fixed(call: Call) -> Call:
    return call


def _const(path: str, resource: str = "*", **extra: Any) -> Callable[[World], Awaitable[Call]]:
    return lambda w: _fixed(Call(path, resource, **extra))


async def _task_read(w: World) -> Call:
    return Call(f"/v1/tasks/{await w.task('echo', 1, finished=True)}", "echo")


async def _result(w: World) -> Call:
    task_id = await w.task("echo", 1, finished=True)
    return Call(f"/v1/tasks/{task_id}/result", "echo", params={"wait": 5})


async def _cancel(w: World) -> Call:
    return Call(f"/v1/tasks/{await w.task('parked')}", "parked")  # no agent takes it


async def _requeue(w: World) -> Call:
    return Call(f"/v1/tasks/{await w.task('boom', finished=True)}/requeue", "boom")


async def _agent(w: World) -> Call:
    name = await w.agent()
    return Call(f"/v1/agents/{name}", name)


async def _deregister(w: World) -> Call:
    name = await w.agent()
    return Call(f"/v1/agents/{name}", name, params={"drain": "true", "timeout": 5})


async def _drain(w: World) -> Call:
    name = await w.agent()
    return Call(f"/v1/agents/{name}/drain", name, params={"timeout": 5})


async def _approve(w: World) -> Call:
    return Call(f"/v1/tasks/{await w.waiting()}/approve", "piped")


async def _reject(w: World) -> Call:
    return Call(f"/v1/tasks/{await w.waiting()}/reject", "piped", body={"reason": "no"})


SUBMIT = {"kind": "echo", "payload": {"x": 1}, "requires": ["echo"]}

ROUTES: dict[str, Route] = {
    "GET /v1/health": Route(None, _const("/v1/health"), 200),
    "GET /v1/ready": Route(None, _const("/v1/ready"), 200),
    "GET /v1/events": Route("events.read", _const("/v1/events"), 200),
    "GET /v1/tasks": Route("task.read", _const("/v1/tasks"), 200),
    "POST /v1/tasks": Route("task.submit", _const("/v1/tasks", "echo", body=SUBMIT), 202),
    "GET /v1/tasks/{task_id}": Route("task.read", _task_read, 200),
    "DELETE /v1/tasks/{task_id}": Route("task.cancel", _cancel, 200),
    "GET /v1/tasks/{task_id}/result": Route("task.read", _result, 200),
    "POST /v1/tasks/{task_id}/requeue": Route("task.requeue", _requeue, 202),
    "GET /v1/agents": Route("agent.read", _const("/v1/agents"), 200),
    "GET /v1/agents/{name}": Route("agent.read", _agent, 200),
    "DELETE /v1/agents/{name}": Route("agent.deregister", _deregister, 204),
    "POST /v1/agents/{name}/drain": Route("agent.drain", _drain, 200),
    "GET /v1/pools": Route("pool.read", _const("/v1/pools"), 200),
    "PUT /v1/pools/{name}/size": Route(
        "pool.resize", _const("/v1/pools/workers/size", "workers", body={"min": 1, "max": 3}), 200
    ),
    "GET /v1/approvals": Route("task.read", _const("/v1/approvals"), 200),
    "POST /v1/tasks/{task_id}/approve": Route("task.approve", _approve, 200),
    "POST /v1/tasks/{task_id}/reject": Route("task.approve", _reject, 200),
}
"""Every operation of the OpenAPI document, as ``METHOD path``."""


async def send(
    http: httpx.AsyncClient, operation: str, call: Call, headers: dict[str, str]
) -> httpx.Response:
    """Make ``call``; an event stream that was accepted is closed without being read."""
    method = operation.partition(" ")[0]
    request = http.build_request(
        method, call.path, json=call.body, params=call.params, headers=headers
    )
    response = await http.send(request, stream=True)
    try:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            await response.aread()
    finally:
        await response.aclose()
    return response


@asynccontextmanager
async def served(
    folder: Path, jwt_keys: dict[str, Any] | None = None, **orchestrator: Any
) -> AsyncIterator[World]:
    """Start everything in ``folder``; the caller sets ``SECRET_ENV``."""
    store = KeyStore(str(folder / "keys.json"))
    keys = {f"only-{a}": store.create(f"only-{a}", f"only-{a}") for a in alveary.ACTIONS}
    keys |= {name: store.create(name, "operator") for name in ("root", "gone")}
    orch = Orchestrator.from_config(config(folder, jwt_keys, **orchestrator), [EventRecorder()])
    async with orch:
        gateway: Any = orch.plugins["gateway"]
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
            world = World(orch, http, folder)
            world.keys, world.operator = keys, {"x-api-key": keys["root"]}
            for kind, handler in (("echo", echo), ("boom", boom)):
                spec = AgentSpec(f"{kind}er", frozenset({kind}), 8, options={"handler": handler})
                await orch.register(spec, credentials=world.operator)
            await until(lambda: len(orch.agents()) == 4, 60)  # and the two pools' agents
            yield world
    await gateway.server.closed
