"""JWT bearer tokens, verified with PyJWT against one configured key source.

The algorithms accepted come from the key, never from the token: HS256 for a shared secret,
RS256 or ES256 for a public key of that type, a JWKS key's own algorithm. So ``alg: none`` and
algorithm confusion (an HS256 token signed with the public key as its secret) are refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jwt
from alveary import Principal
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ._config import Jwt

_REQUIRED = ["exp", "sub"]


class TokenError(Exception):
    """A token was refused; the message names why, never the token."""


class Verifier:
    """Checks signature, ``exp``, ``nbf``, ``iss`` and ``aud`` and turns a token into a
    principal (``sub``, and roles from ``roles_claim``)."""

    def __init__(self, config: Jwt) -> None:
        self.config = config
        self._key: Any = None
        self._algorithms: list[str] = []
        self._jwks: jwt.PyJWKSet | None = None
        self.load()

    def load(self) -> None:
        """Read the key source; raises ``OSError`` or ``ValueError`` naming what is wrong."""
        c = self.config
        if c.secret_env or c.secret_file:
            secret = os.environ.get(c.secret_env, "") if c.secret_env else _read(c.secret_file)
            if len(secret.strip()) < 32:
                raise ValueError("the HS256 secret must have at least 32 characters")
            self._key, self._algorithms = secret.strip().encode(), ["HS256"]
        elif c.public_key_file:
            key = load_pem_public_key(_read(c.public_key_file).encode())
            if isinstance(key, rsa.RSAPublicKey):
                self._algorithms = ["RS256"]
            elif isinstance(key, ec.EllipticCurvePublicKey):
                self._algorithms = ["ES256"]
            else:
                raise ValueError("the public key is neither RSA nor EC")
            self._key = key
        elif c.jwks_file:
            self._jwks = jwt.PyJWKSet.from_dict(json.loads(_read(c.jwks_file)))
        else:
            raise ValueError(
                "no key source: set secret_env, secret_file, public_key_file or jwks_file"
            )

    def principal(self, token: str) -> Principal:
        """The principal ``token`` names; raises ``TokenError`` with the reason."""
        c = self.config
        try:
            key, algorithms = self._key, self._algorithms
            if self._jwks is not None:
                kid = jwt.get_unverified_header(token).get("kid")
                found = next((k for k in self._jwks.keys if k.key_id == kid), None)
                if found is None or found.algorithm_name.startswith(("HS", "none")):
                    raise TokenError("no usable key in the JWKS for the token's kid")
                key, algorithms = found.key, [found.algorithm_name]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=c.audience or None,
                issuer=c.issuer or None,
                leeway=c.leeway,
                options={"require": [*_REQUIRED, *(["iss"] if c.issuer else [])]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(_reason(exc)) from None
        roles = claims.get(c.roles_claim, [])
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenError(f"claim {c.roles_claim!r} is not a list of role names")
        return Principal(str(claims["sub"]), frozenset(roles))


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _reason(exc: jwt.PyJWTError) -> str:
    """Why PyJWT refused a token, in words that hold no part of it."""
    reasons = {
        jwt.ExpiredSignatureError: "expired",
        jwt.ImmatureSignatureError: "not yet valid (nbf)",
        jwt.InvalidAudienceError: "wrong audience",
        jwt.InvalidIssuerError: "wrong issuer",
        jwt.MissingRequiredClaimError: "a required claim is missing",
        jwt.InvalidAlgorithmError: "algorithm not allowed",
        jwt.InvalidSignatureError: "bad signature",
        jwt.DecodeError: "malformed",
    }
    for kind, reason in reasons.items():
        if isinstance(exc, kind):
            return reason
    return "invalid"
