"""``/v1/workflows`` on a real gateway on loopback, and ``alveary workflow`` against it in a
process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from alveary import AgentSpec, Orchestrator
from alveary.testing import OneToken, echo
from alveary_gateway import Gateway

TOKEN = "open-sesame"
AUTH = {"authorization": f"Bearer {TOKEN}"}
BODY = {
    "name": "w",
    "steps": [
        {"name": "plan", "kind": "echo", "payload": {"files": ["a", "--rm", "$(id)"]}},
        {
            "name": "each",
            "kind": "echo",
            "payload": "{item}",
            "fan_out": {"over": "{plan.value.files}", "limit": 2},
        },
    ],
}


@contextlib.asynccontextmanager
async def gatewayed(*plugins: object) -> AsyncIterator[tuple[Orchestrator, str]]:
    settings: dict[str, Any] = {
        "orchestrator": {"tick_interval": 0.05, "retry_base": 0.0},
        "plugins": {"enabled": ["gateway", "workflows"], "gateway": {"listen": "127.0.0.1:0"}},
    }
    async with Orchestrator.from_config(settings, plugins) as orch:
        gateway = orch.plugins["gateway"]
        assert isinstance(gateway, Gateway)
        await orch.register(
            AgentSpec("a", {"echo"}, capacity=4, options={"handler": echo}), credentials=AUTH
        )
        yield orch, gateway.url
    assert gateway.server is not None
    await gateway.server.closed


async def test_start_and_read_a_run_over_http() -> None:
    async with gatewayed(OneToken(TOKEN)) as (_, url), httpx.AsyncClient(base_url=url) as http:
        started = await http.post("/v1/workflows", json=BODY, headers=AUTH)
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        for _ in range(600):
            record = (await http.get(f"/v1/workflows/{run_id}", headers=AUTH)).json()
            if record["state"] == "succeeded":
                break
            await asyncio.sleep(0.05)
        assert record["steps"]["each"]["value"] == ["a", "--rm", "$(id)"]
        assert len(record["steps"]["each"]["task_ids"]) == 3

        anonymous = await http.post("/v1/workflows", json=BODY)
        assert anonymous.status_code == 401
        assert (await http.get(f"/v1/workflows/{run_id}")).status_code == 401
        missing = await http.get("/v1/workflows/nope", headers=AUTH)
        assert missing.status_code == 404
        cyclic = {"name": "w", "steps": [{"name": "a", "kind": "echo", "after": ["a"]}]}
        refused = await http.post("/v1/workflows", json=cyclic, headers=AUTH)
        assert refused.status_code == 422
        assert refused.json()["error"]["message"] == "steps form a cycle: a -> a"
        for bad in ([1, 2], "x", {"name": "w", "steps": [{"name": "a", "kind": "k", "x": 1}]}):
            answer = await http.post("/v1/workflows", json=bad, headers=AUTH)
            assert answer.status_code == 422, answer.text
        garbage = await http.post("/v1/workflows", content=b"{nope", headers=AUTH)
        assert garbage.status_code == 400


async def cli(url: str, *argv: str) -> tuple[int, str, str]:
    code = "import sys; from alveary_workflows.cli import main; sys.exit(main(sys.argv[1:]))"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        *argv,
        "--url",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_runs_a_file_and_follows_its_steps(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        'name = "w"\n[[steps]]\nname = "a"\nkind = "echo"\npayload = ["--help", "$(id)"]\n'
        '[[steps]]\nname = "b"\nkind = "echo"\npayload = "{a.value.1}"\n'
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "w"\n[[steps]]\nname = "a"\nkind = "echo"\ntimeout = nan\n')
    async with gatewayed() as (_, url):
        status, out, err = await cli(url, "run", str(good), "--wait", "60")
        assert status == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("run ")
        assert lines[-1].endswith(" succeeded")
        assert any(line.split()[:2] == ["b", "succeeded"] for line in lines)
        run_id = lines[0].split()[1]
        status, out, _ = await cli(url, "show", run_id)
        assert status == 0
        assert out.startswith(f"run {run_id} (w): succeeded")

        status, out, err = await cli(url, "run", str(bad))
        assert (status, out) == (2, "")
        assert (
            err
            == f"alveary workflow: {bad}:5: steps[0].timeout: expected a finite number, got nan\n"
        )
        status, _, err = await cli(url, "run", str(tmp_path / "--missing.toml"))
        assert status == 2
        assert err.count("\n") == 1
        status, _, err = await cli(url, "show", "../tasks")
        assert status == 2
        status, _, err = await cli(url, "show", "nope")
        assert status == 1
        assert "no workflow run 'nope'" in err
        assert err.count("\n") == 1


async def test_the_command_says_when_the_server_runs_no_workflows(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('name = "w"\n[[steps]]\nname = "a"\nkind = "echo"\n')
    settings = {"plugins": {"enabled": ["gateway"], "gateway": {"listen": "127.0.0.1:0"}}}
    async with Orchestrator.from_config(settings) as orch:
        gateway = orch.plugins["gateway"]
        assert isinstance(gateway, Gateway)
        status, out, err = await cli(gateway.url, "run", str(good))
    assert (status, out) == (1, "")
    assert err == (
        f'alveary workflow: {gateway.url} runs no workflows: add "workflows" to '
        "[plugins] enabled in its config\n"
    )
