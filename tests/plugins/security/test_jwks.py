"""JWT key files are read again when they change: a JWKS rotates while running, and one that
turns missing, corrupt or empty refuses every token until it reads again (never the keys read
before)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jwt
import pytest
from alveary_security import Jwt
from alveary_security._jwt import TokenError, Verifier
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import claims


def jwks(kid: str, key: rsa.RSAPrivateKey) -> str:
    entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return json.dumps({"keys": [{**entry, "kid": kid, "alg": "RS256"}]})


def signed(kid: str, key: rsa.RSAPrivateKey) -> str:
    return jwt.encode(claims(), key, "RS256", headers={"kid": kid})


def rewrite(path: Path, text: str) -> None:
    """Write ``text`` with a new modification time, as a later edit would have."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_a_jwks_file_rotates_and_fails_closed(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "jwks.json"
    path.write_text(jwks("a", rsa_key))
    verifier = Verifier(Jwt(jwks_file=str(path), audience="alveary"))
    assert verifier.broken == ""
    assert verifier.principal(signed("a", rsa_key))[0].id == "alice"
    for text, why in (("{", "JSONDecodeError"), ('{"keys": []}', "PyJWKSetError"), ("[]", "")):
        rewrite(path, text)
        verifier.refresh()
        assert verifier.broken.startswith("JWT keys unusable ("), text
        assert why in verifier.broken
        with pytest.raises(TokenError, match="JWT keys unusable"):
            verifier.principal(signed("a", rsa_key))
    path.unlink()
    verifier.refresh()
    assert verifier.broken == "JWT keys unusable (FileNotFoundError)"
    rewrite(path, jwks("b", other))  # rotated: "a" withdrawn
    verifier.refresh()
    assert verifier.broken == ""
    assert verifier.principal(signed("b", other))[0].id == "alice"
    with pytest.raises(TokenError, match="no usable key in the JWKS"):
        verifier.principal(signed("a", rsa_key))


def test_a_short_secret_is_unusable_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHORT_SECRET", "x" * 8)
    verifier = Verifier(Jwt(secret_env="SHORT_SECRET"))
    assert verifier.broken == "JWT keys unusable (ValueError)"
    with pytest.raises(TokenError, match="unusable"):
        verifier.principal("any.token.at-all")
