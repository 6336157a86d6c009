"""Every kernel action through the real Orchestrator with the security plugin: forged,
expired, revoked and out-of-role requests are denied, and each denial is audited."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from alveary import AgentSpec, Denied, Orchestrator, TaskSpec
from alveary.testing import echo
from alveary_security import KeyStore, verify
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import SECRET, bearer, hs256


def config(settings: dict[str, Any], **orchestrator: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"tick_interval": 0.05, **orchestrator},
        "plugins": {"enabled": ["security"], "security": settings},
    }


def spec(name: str) -> AgentSpec:
    return AgentSpec(name, frozenset({"echo"}), options={"handler": echo})


def audit_text(settings: dict[str, Any]) -> str:
    return Path(settings["audit_log"]).read_text(encoding="utf-8")


def audit(settings: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit_text(settings).splitlines()]


def unsigned(**claims: Any) -> str:
    """A token with ``alg: none``."""
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


FORGED = {
    "bad signature": lambda: jwt.encode({"sub": "alice"}, "x" * 40, algorithm="HS256"),
    "alg none": lambda: unsigned(sub="alice", roles=["operator"], exp=2**40, aud="alveary"),
    "expired": lambda: hs256(exp=1),
    "not yet valid": lambda: hs256(nbf=2**40),
    "wrong audience": lambda: hs256(aud="other"),
    "wrong issuer": lambda: hs256(iss="https://evil.example"),
    "no exp": lambda: hs256(exp=None),
    "garbage": lambda: "not-a-token",
}


async def test_every_action_refuses_forged_tokens_and_audits_each(settings: dict[str, Any]) -> None:
    good = bearer(hs256())
    async with Orchestrator.from_config(config(settings)) as orch:
        agent = await orch.register(spec("a1"), credentials=good)
        task = await orch.submit(TaskSpec("echo"), credentials=good)
        await task.result(timeout=5)
        denied = 0
        for forge in FORGED.values():
            creds = bearer(forge())
            actions = [
                orch.submit(TaskSpec("echo"), credentials=creds),
                orch.register(spec("a2"), credentials=creds),
                orch.cancel(task.id, credentials=creds),
                orch.requeue(task.id, credentials=creds),
                orch.drain(agent.id, credentials=creds),
                orch.deregister(agent.id, credentials=creds),
            ]
            for action in actions:
                with pytest.raises(Denied, match="not authenticated"):
                    await action
                denied += 1
        assert [a.name for a in orch.agents()] == ["a1"]
        assert orch.metrics().disabled_plugins == ()
    entries = audit(settings)
    refusals = [e for e in entries if e["category"] == "authentication" and e["event"] == "denied"]
    assert len(refusals) == denied
    assert {e["reason"].split(": ")[1] for e in refusals} >= {
        "bad signature",
        "algorithm not allowed",
        "expired",
        "wrong audience",
        "wrong issuer",
    }
    assert SECRET not in audit_text(settings)
    assert verify(Path(settings["audit_log"])) == (len(entries), "")


async def test_out_of_role_requests_are_denied_with_the_missing_rule(
    settings: dict[str, Any],
) -> None:
    operator = bearer(hs256())
    submitter = bearer(hs256(sub="sam", roles=["submitter"]))
    agent_role = bearer(hs256(sub="w", roles="agent"))
    async with Orchestrator.from_config(config(settings)) as orch:
        agent = await orch.register(spec("w-1"), credentials=agent_role)
        task = await orch.submit(TaskSpec("echo"), credentials=submitter)
        await task.result(timeout=5)
        with pytest.raises(Denied, match=r"no role of sam allows task\.submit on 'deploy'"):
            await orch.submit(TaskSpec("deploy"), credentials=submitter)
        for action in (
            orch.cancel(task.id, credentials=submitter),
            orch.requeue(task.id, credentials=submitter),
            orch.register(spec("w-2"), credentials=submitter),
            orch.drain(agent.id, credentials=submitter),
            orch.deregister(agent.id, credentials=submitter),
        ):
            with pytest.raises(
                Denied, match=r"no role of sam allows \w+\.\w+ \(roles: submitter\)"
            ):
                await action
        with pytest.raises(Denied, match="on 'intruder'"):
            await orch.register(spec("intruder"), credentials=agent_role)
        with pytest.raises(Denied, match=r"no role of w allows agent\.drain"):
            await orch.drain(agent.id, credentials=agent_role)
        with pytest.raises(Denied, match="no credentials"):
            await orch.submit(TaskSpec("echo"))
        await orch.drain(agent.id, credentials=operator)
    entries = audit(settings)
    kinds = {(e["category"], e.get("action")) for e in entries if e["event"] == "denied"}
    assert ("authorization", "task.submit") in kinds
    assert ("privilege_escalation", "agent.drain") in kinds
    assert ("privilege_escalation", "agent.register") in kinds
    assert sum(e["event"] == "denied" for e in entries) == 9


async def test_api_keys_work_until_revoked(settings: dict[str, Any]) -> None:
    store = KeyStore(settings["keys_file"])
    key = store.create("ci", "submitter")
    async with Orchestrator.from_config(config(settings)) as orch:
        await orch.register(spec("a1"), credentials=bearer(hs256()))
        done = await orch.submit(TaskSpec("echo", payload=1), credentials={"x-api-key": key})
        assert (await done.result(timeout=5)).value == 1
        await orch.submit(TaskSpec("echo"), credentials=bearer(key))
        assert store.revoke("ci")
        await asyncio.sleep(0.2)  # the running orchestrator re-reads the file at its tick
        with pytest.raises(Denied, match="unknown or revoked API key"):
            await orch.submit(TaskSpec("echo"), credentials={"api_key": key})
    assert key not in audit_text(settings)


async def test_rs256_tokens_and_algorithm_confusion(
    settings: dict[str, Any], rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    public = tmp_path / "public.pem"
    settings["jwt"] = {"public_key_file": str(public), "audience": "alveary"}
    async with Orchestrator.from_config(config(settings)) as orch:
        good = jwt.encode(
            {"sub": "r", "roles": ["operator"], "exp": 2**40, "aud": "alveary"},
            rsa_key,
            algorithm="RS256",
        )
        await orch.register(spec("a1"), credentials=bearer(good))
        confused = _hmac_token(public.read_bytes())  # HS256, the public key as its secret
        with pytest.raises(Denied, match="algorithm not allowed"):
            await orch.register(spec("a2"), credentials=bearer(confused))


def _hmac_token(secret: bytes) -> str:
    """HS256 by hand: PyJWT itself refuses a PEM key as an HMAC secret."""
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(
        json.dumps({"sub": "r", "roles": ["operator"], "exp": 2**40, "aud": "alveary"}).encode()
    )
    sig = enc(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"
