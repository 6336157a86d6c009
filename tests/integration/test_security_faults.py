"""The security plugin failing under the gateway: a keys file or a JWKS file that turns
corrupt, missing or a directory mid-run, and the plugin itself raising or overrunning until
it is disabled. While it is down every operation is refused, for every caller, and nothing
is done; once the file reads again, service resumes without a restart."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from alveary.testing import until
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .secured import ISSUER, ROUTES, SECRET, SECRET_ENV, Call, World, bearer, send, served, token

PROTECTED = sorted(op for op, route in ROUTES.items() if route.action is not None)
REFUSED = {401, 403, 503}


async def prepared(world: World) -> dict[str, Call]:
    """A valid request for every protected operation, made while security still works."""
    return {operation: await ROUTES[operation].prepare(world) for operation in PROTECTED}


async def all_refused(
    world: World, calls: dict[str, Call], headers: dict[str, str], status: set[int] = REFUSED
) -> list[str]:
    """Send every call with ``headers``; each must be refused. The refusals' messages."""
    messages = []
    for operation, call in calls.items():
        answer = await send(world.http, operation, call, headers)
        assert answer.status_code in status, (operation, answer.status_code, answer.text)
        messages.append(answer.json()["error"]["message"])
    return messages


def unchanged(world: World, calls: dict[str, Call], agents: set[str]) -> None:
    """Nothing the refused calls asked for happened."""
    assert {a.name for a in world.orch.agents()} == agents
    assert world.orch.pools["workers"].size.max == 2
    for operation, call in calls.items():
        if operation in {"DELETE /v1/tasks/{task_id}", "POST /v1/tasks/{task_id}/approve"}:
            task = world.orch.get_task(call.path.split("/")[3])
            assert not task.state.terminal, operation
            assert task.state.value != "cancelled"


async def resumes(world: World, headers: dict[str, str]) -> None:
    """The file reads again: the same caller is served."""
    await until(lambda: _status(world) is None, 30)
    call = await ROUTES["POST /v1/tasks"].prepare(world)
    answer = await send(world.http, "POST /v1/tasks", call, headers)
    assert answer.status_code == 202, answer.text


def _status(world: World) -> str | None:
    security: Any = world.orch.plugins["security"]
    return security.keys.broken or security._verifier.broken or None


BREAKS: dict[str, Callable[[Path], None]] = {
    "corrupt": lambda path: path.write_text('{"keys": [{"name": '),
    "not a mapping": lambda path: path.write_text("[1, 2]"),
    "a directory": lambda path: (path.unlink(), path.mkdir()),  # type: ignore[func-returns-value]
}


@pytest.mark.parametrize("broken", sorted(BREAKS))
async def test_a_broken_keys_file_refuses_every_key_until_it_reads_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    async with served(tmp_path) as world:
        calls = await prepared(world)
        agents = {a.name for a in world.orch.agents()}
        keys = tmp_path / "keys.json"
        saved = keys.read_bytes()
        BREAKS[broken](keys)
        security: Any = world.orch.plugins["security"]
        await until(lambda: security.keys.broken, 30)  # at the next tick
        for key in (world.keys["root"], world.keys["only-task.submit"]):
            for headers in ({"x-api-key": key}, bearer(key)):
                messages = await all_refused(world, calls, headers, {401})
                assert {m.partition(": ")[2] for m in messages} == {
                    f"not authenticated: {security.keys.broken}"
                }
        unchanged(world, calls, agents)
        operator = bearer(token("jo", ["operator"]))  # tokens do not depend on the keys file
        assert (await world.http.get("/v1/agents", headers=operator)).status_code == 200
        if keys.is_dir():
            keys.rmdir()
        keys.write_bytes(saved)
        await resumes(world, world.operator)


def jwks(*keys: tuple[str, rsa.RSAPrivateKey]) -> str:
    found = []
    for kid, key in keys:
        entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        found.append({**entry, "kid": kid, "alg": "RS256", "use": "sig"})
    return json.dumps({"keys": found})


def signed(key: rsa.RSAPrivateKey, kid: str, roles: list[str]) -> str:
    now = int(time.time())
    claims = {"sub": "rita", "roles": roles, "aud": "alveary", "iss": ISSUER, "exp": now + 600}
    return jwt.encode(claims, key, "RS256", headers={"kid": kid})


async def test_a_jwks_file_is_rotated_and_refuses_every_token_while_broken(
    tmp_path: Path,
) -> None:
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab")
    path = tmp_path / "jwks.json"
    path.write_text(jwks(("old", old)))
    async with served(tmp_path, jwt_keys={"jwks_file": str(path)}) as world:
        security: Any = world.orch.plugins["security"]
        calls = await prepared(world)
        agents = {a.name for a in world.orch.agents()}
        first = bearer(signed(old, "old", ["operator"]))
        assert (await world.http.get("/v1/agents", headers=first)).status_code == 200
        breaks: list[tuple[str, Callable[[], object]]] = [
            ("JSONDecodeError", lambda: path.write_text("{not json")),
            ("PyJWKSetError", lambda: path.write_text('{"keys": []}')),
            ("FileNotFoundError", path.unlink),
            ("IsADirectoryError", lambda: (path.unlink(), path.mkdir())),
        ]
        for name, damage in breaks:
            damage()
            await until(lambda: security._verifier.broken, 30)
            messages = await all_refused(world, calls, first, {401})
            assert set(messages) == {f"security: not authenticated: JWT keys unusable ({name})"}
            unchanged(world, calls, agents)
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            path.write_text(jwks(("old", old)))
            await resumes(world, first)

        path.write_text(jwks(("new", new)))  # the old key is withdrawn, the new one used
        await until(lambda: "new" in path.read_text() and _kids(security) == {"new"}, 30)
        messages = await all_refused(world, calls, first, {401})
        assert set(messages) == {
            "security: not authenticated: invalid token: no usable key in the JWKS for the "
            "token's kid"
        }
        await resumes(world, bearer(signed(new, "new", ["operator"])))


def _kids(security: Any) -> set[str]:
    return {k.key_id for k in security._verifier._keys[2].keys}


def _raise(*args: Any) -> str:
    raise OSError("policy store down")


def _stall(*args: Any) -> str:
    time.sleep(0.3)  # past hook_timeout: the answer is dropped
    return ""


@pytest.mark.parametrize(
    ("target", "replacement"),
    [("policy.missing", _raise), ("policy.missing", _stall), ("_identify", _raise)],
)
async def test_a_failing_plugin_refuses_everything_until_and_after_it_is_disabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, replacement: Any
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    settings = {"hook_timeout": 0.1, "max_failures": 3}
    async with served(tmp_path, **settings) as world:
        calls = await prepared(world)
        agents = {a.name for a in world.orch.agents()}
        security: Any = world.orch.plugins["security"]
        owner, _, attribute = target.rpartition(".")
        monkeypatch.setattr(getattr(security, owner) if owner else security, attribute, replacement)
        operator = bearer(token("jo", ["operator"]))
        messages = await all_refused(world, calls, operator, {503})
        messages += await all_refused(world, calls, world.operator, {503})
        assert world.orch.metrics().disabled_plugins == ("security",)
        assert messages[-1] == "security: authentication refused: plugin 'security' is disabled"
        monkeypatch.undo()  # the plugin would answer again: it stays disabled all the same
        monkeypatch.setenv(SECRET_ENV, SECRET)
        # Nothing was decided about the caller: 503, not a 401 that blames its credentials.
        await all_refused(world, calls, operator, {503})
        unchanged(world, calls, agents)
        url = str(world.http.base_url).replace("http", "ws", 1) + "/v1/agents/connect"
        async with connect(url, open_timeout=30, additional_headers=operator) as socket:
            with pytest.raises(ConnectionClosed):
                await socket.recv()
        assert socket.close_code == 1013  # try again later: the agent keeps trying
        for public in ("/v1/health", "/v1/ready"):
            assert (await world.http.get(public)).status_code == 200
        denied = [e for e in world.recorder.events if e.type == "security.denied"]
        assert len(denied) == 3 * len(calls) + 1
        assert all(e.data["unavailable"] is True for e in denied)
