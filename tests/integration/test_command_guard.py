"""The dangerous-command guard end to end: subprocess tools whose commands the security
plugin's guard blocks or holds for approval, decided over HTTP and with the command-line
client, as a real server and real processes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from alveary import Orchestrator, TaskState
from alveary.testing import until
from alveary_gateway import cli

SECRET = "g" * 40


def bearer(roles: list[str]) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "olga", "roles": roles, "aud": "alveary", "exp": now + 300, "iat": now}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


class Served:
    def __init__(self, orch: Orchestrator, http: httpx.AsyncClient, folder: Path) -> None:
        self.orch, self.http, self.folder = orch, http, folder

    async def submit(self, kind: str, payload: Any) -> str:
        body = {"kind": kind, "payload": payload, "requires": [kind], "max_attempts": 3}
        answer = await self.http.post("/v1/tasks", json=body, headers=bearer(["operator"]))
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])

    async def outcome(self, task_id: str) -> dict[str, Any]:
        answer = await self.http.get(
            f"/v1/tasks/{task_id}/result", params={"wait": 30}, headers=bearer(["operator"])
        )
        return dict(answer.json())


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    monkeypatch.setenv("GUARD_TEST_SECRET", SECRET)
    config = {
        "orchestrator": {"shutdown_timeout": 2},
        "plugins": {
            "enabled": ["gateway", "security", "subprocess"],
            "gateway": {"listen": "127.0.0.1:0"},
            "security": {
                "audit_log": str(tmp_path / "audit.jsonl"),
                "jwt": {"secret_env": "GUARD_TEST_SECRET", "audience": "alveary"},
                "roles": {
                    "operator": {"allow": ["*"]},
                    "viewer": {"allow": ["task.read"]},
                },
            },
            "subprocess": {"log_dir": str(tmp_path / "logs")},
        },
        "pools": [
            {
                "name": "formatters",
                "runtime": "subprocess",
                "capabilities": ["mkfs"],
                "options": {"template": ["mkfs.ext4", "-F", "{target}"]},
            },
            {
                "name": "piped",
                "runtime": "subprocess",
                "capabilities": ["piped"],
                "capacity": 2,
                "options": {"shell": "echo {word} | sh"},
            },
        ],
    }
    orch = Orchestrator.from_config(config)
    # the pools' agents start as the kernel itself (no credentials needed)
    async with orch:
        await until(lambda: len(orch.agents()) == 2, 30)
        gateway: Any = orch.plugins["gateway"]
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
            yield Served(orch, http, tmp_path)
    await gateway.server.closed


async def test_a_critical_command_is_blocked_before_anything_runs(served: Served) -> None:
    disk = served.folder / "disk.img"
    disk.write_bytes(b"precious")
    outcome = await served.outcome(await served.submit("mkfs", {"target": str(disk)}))
    assert outcome["state"] == "failed"
    assert outcome["attempts"] == 1  # not retried: it would be blocked again
    assert "command blocked: mkfs (critical)" in outcome["error"]
    assert disk.read_bytes() == b"precious"
    audit = served.folder / "audit.jsonl"  # written behind, from a thread

    def blocked() -> list[dict[str, Any]]:
        lines = audit.read_text().splitlines() if audit.exists() else []
        return [e for e in map(json.loads, lines) if e.get("event") == "command block"]

    await until(blocked, 30)
    assert blocked()[0]["category"] == "privilege_escalation"
    assert blocked()[0]["rules"] == ["mkfs"]


async def test_a_risky_command_waits_until_someone_approves_or_rejects_it(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await served.submit("piped", {"word": "true"})
    second = await served.submit("piped", {"word": "true"})
    await until(lambda: len(served.orch.approvals()) == 2, 30)
    assert served.orch.get_task(first).state is TaskState.RUNNING

    viewer = bearer(["viewer"])
    listed = await served.http.get("/v1/approvals", headers=viewer)
    assert [a["task_id"] for a in listed.json()] == [first, second]
    assert "pipe-to-shell (high)" in listed.json()[0]["reason"]
    refused = await served.http.post(f"/v1/tasks/{first}/approve", headers=viewer)
    assert refused.status_code == 403, refused.text
    unknown = await served.http.post("/v1/tasks/nope/approve", headers=bearer(["operator"]))
    assert unknown.status_code == 404, unknown.text

    url = str(served.http.base_url)
    monkeypatch.setenv("ALVEARY_TOKEN", bearer(["operator"])["Authorization"].split()[1])
    assert await asyncio.to_thread(cli.approvals_command, ["--url", url]) == 0
    shown = capsys.readouterr().out
    assert first in shown
    assert "pipe-to-shell" in shown
    assert await asyncio.to_thread(cli.approve_command, [first, "--url", url]) == 0
    assert (await served.outcome(first))["state"] == "succeeded"
    reason = ["--reason", "no pipes into sh here"]
    assert await asyncio.to_thread(cli.reject_command, [second, *reason, "--url", url]) == 0
    rejected = await served.outcome(second)
    assert rejected["state"] == "failed"
    assert "command rejected: by olga: no pipes into sh here" in rejected["error"]
    assert served.orch.approvals() == []
    capsys.readouterr()
    assert await asyncio.to_thread(cli.approve_command, [second, "--url", url]) == 1
    assert "waits for no approval" in capsys.readouterr().err
