"""The gateway and the security plugin together, over real HTTP: who may call what, with the
right status for each refusal (401, 403, 429), and every refusal in the audit log."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import alveary
import httpx
import jwt
import pytest
from alveary import AgentSpec, Orchestrator
from alveary.testing import until

SECRET = "k" * 40


async def echo(task: alveary.Task) -> Any:
    return task.payload


def token(roles: list[str], *, secret: str = SECRET, **changes: Any) -> str:
    now = int(time.time())
    claims = {"sub": "alice", "roles": roles, "aud": "alveary", "exp": now + 60, "iat": now}
    return jwt.encode({**claims, **changes}, secret, algorithm="HS256")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
async def client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("GATEWAY_TEST_SECRET", SECRET)
    security = {
        "audit_log": str(tmp_path / "audit.jsonl"),
        "jwt": {"secret_env": "GATEWAY_TEST_SECRET", "audience": "alveary"},
        "roles": {
            "submitter": {"allow": ["task.submit"], "capabilities": ["echo"]},
            "reader": {"allow": ["task.read"]},
            "operator": {"allow": ["*"]},
        },
        "limits": {"failures": 5},
    }
    config = {
        "plugins": {
            "enabled": ["gateway", "security"],
            "gateway": {"listen": "127.0.0.1:0"},
            "security": security,
        }
    }
    orch = Orchestrator.from_config(config)
    async with orch:
        operator = {"authorization": f"Bearer {token(['operator'])}"}
        await orch.register(
            AgentSpec("echoer", {"echo"}, options={"handler": echo}), credentials=operator
        )
        gateway: Any = orch.plugins["gateway"]
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            yield http
    await gateway.server.closed  # the listening socket is closed, not left to the collector


async def test_each_caller_gets_what_its_role_allows(client: httpx.AsyncClient) -> None:
    task = {"kind": "echo", "payload": "hi", "requires": ["echo"]}
    anonymous = await client.post("/v1/tasks", json=task)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error"]["code"] == "unauthenticated"

    forged = [
        token(["operator"], secret="not-the-secret-" * 3),
        token(["operator"], exp=int(time.time()) - 3600),
        token(["operator"], aud="someone-else"),
        jwt.encode({"sub": "mallory", "roles": ["operator"]}, None, algorithm="none"),
    ]
    for value in forged:
        refused = await client.post("/v1/tasks", json=task, headers=bearer(value))
        assert refused.status_code == 401, (value, refused.text)

    submitter = bearer(token(["submitter"]))
    accepted = await client.post("/v1/tasks", json=task, headers=submitter)
    assert accepted.status_code == 202, accepted.text
    task_id = accepted.json()["id"]
    other_kind = await client.post("/v1/tasks", json={**task, "kind": "deploy"}, headers=submitter)
    assert other_kind.status_code == 403, other_kind.text
    assert (await client.get(f"/v1/tasks/{task_id}", headers=submitter)).status_code == 403

    reader = bearer(token(["reader"]))
    result = await client.get(f"/v1/tasks/{task_id}/result", params={"wait": 10}, headers=reader)
    assert result.status_code == 200, result.text
    assert result.json()["value"] == "hi"
    assert (await client.delete(f"/v1/tasks/{task_id}", headers=reader)).status_code == 403


async def test_failed_authentication_is_rate_limited_per_client(client: httpx.AsyncClient) -> None:
    bad = bearer(token(["operator"], secret="wrong-" * 8))
    statuses = [(await client.get("/v1/tasks", headers=bad)).status_code for _ in range(8)]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}, statuses
    limited = await client.get("/v1/tasks", headers=bad)
    assert int(limited.headers["Retry-After"]) >= 1


async def test_refusals_are_audited_without_secrets(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    secret_token = token(["operator"], secret="leaked-" * 8)
    await client.post("/v1/tasks", json={"kind": "echo"}, headers=bearer(secret_token))
    await client.post("/v1/tasks", json={"kind": "deploy"}, headers=bearer(token(["submitter"])))
    audit = tmp_path / "audit.jsonl"
    await until(lambda: audit.exists() and audit.stat().st_size > 0, timeout=30)  # on a tick
    text = audit.read_text()
    assert secret_token not in text
    assert "leaked" not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert {e["category"] for e in entries} >= {"authentication", "authorization"}
