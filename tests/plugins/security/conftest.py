"""A security config on disk: a keys file, an HS256 secret, an RSA key pair, an audit log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SECRET = "s" * 40
ROLES = {
    "submitter": {"allow": ["task.submit"], "capabilities": ["echo"]},
    "operator": {"allow": ["*"]},
    "agent": {"allow": ["agent.register", "agent.deregister"], "capabilities": ["w-*"]},
}


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "alice", "roles": ["operator"], "exp": now + 60, "aud": "alveary"}
    base |= {"iss": "https://auth.example", "iat": now}
    return {k: v for k, v in (base | changes).items() if v is not None}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def rsa_key(tmp_path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "public.pem").write_bytes(pem)
    return key


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``[plugins.security]`` with HS256 tokens, keys and an audit log in ``tmp_path``."""
    monkeypatch.setenv("TEST_JWT_SECRET", SECRET)
    return {
        "keys_file": str(tmp_path / "keys.json"),
        "audit_log": str(tmp_path / "audit.jsonl"),
        "jwt": {
            "secret_env": "TEST_JWT_SECRET",
            "audience": "alveary",
            "issuer": "https://auth.example",
        },
        "roles": ROLES,
    }


def hs256(**changes: Any) -> str:
    return jwt.encode(claims(**changes), SECRET, algorithm="HS256")
