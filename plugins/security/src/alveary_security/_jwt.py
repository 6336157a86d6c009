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


Keys = tuple[Any, list[str], "jwt.PyJWKSet | None"]
"""The key (or None with a JWKS), the algorithms it takes, and the JWKS."""

_UNUSABLE = (OSError, ValueError, TypeError, AttributeError, KeyError, jwt.PyJWTError)
"""What reading or parsing a key source raises when it is missing, corrupt or of no use."""


class Verifier:
    """Checks signature, ``exp``, ``nbf``, ``iss`` and ``aud`` and turns a token into a
    principal (``sub``, and roles from ``roles_claim``).

    A key file (``secret_file``, ``public_key_file``, ``jwks_file``) is read again when it
    changes, so keys can be rotated and withdrawn while running. While the source cannot be
    read or used (missing, corrupt, no usable key), ``broken`` says why and every token is
    refused: never the keys read before."""

    def __init__(self, config: Jwt) -> None:
        self.config = config
        self.broken = "JWT keys not read yet"
        self._keys: Keys = (None, [], None)
        self._stamp: tuple[int, int, int] | None = None
        self.refresh()

    @property
    def file(self) -> str:
        """The key file, or "" for a secret in the environment (read once)."""
        c = self.config
        return c.secret_file or c.public_key_file or c.jwks_file

    @property
    def keys(self) -> Keys:
        """The keys read last: a new object each time the source is read again."""
        return self._keys

    def refresh(self) -> None:
        """Read the key source if it changed since the last read (blocking: a file)."""
        stamp = None
        if self.file:
            try:
                stat = os.stat(self.file)
            except OSError as exc:
                self.broken = _unusable(exc)
                return
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp == self._stamp and not self.broken:
            return
        try:
            keys = self.load()
        except _UNUSABLE as exc:
            self.broken = _unusable(exc)
            return
        self._keys, self._stamp, self.broken = keys, stamp, ""

    def load(self) -> Keys:
        """Read the key source; raises one of ``_UNUSABLE`` naming what is wrong."""
        c = self.config
        if c.secret_env or c.secret_file:
            secret = os.environ.get(c.secret_env, "") if c.secret_env else _read(c.secret_file)
            if len(secret.strip()) < 32:
                raise ValueError("the HS256 secret must have at least 32 characters")
            return secret.strip().encode(), ["HS256"], None
        if c.public_key_file:
            key = load_pem_public_key(_read(c.public_key_file).encode())
            if isinstance(key, rsa.RSAPublicKey):
                return key, ["RS256"], None
            if isinstance(key, ec.EllipticCurvePublicKey):
                return key, ["ES256"], None
            raise ValueError("the public key is neither RSA nor EC")
        if c.jwks_file:
            return None, [], jwt.PyJWKSet.from_dict(json.loads(_read(c.jwks_file)))
        raise ValueError("no key source: set secret_env, secret_file, public_key_file or jwks_file")

    def principal(self, token: str, keys: Keys | None = None) -> tuple[Principal, float]:
        """The principal ``token`` names and when it expires (its ``exp``, epoch seconds),
        checked against ``keys`` (by default the keys read last); raises ``TokenError`` with
        the reason."""
        c = self.config
        if self.broken:
            raise TokenError(self.broken)
        key, algorithms, jwks = self._keys if keys is None else keys
        try:
            if jwks is not None:
                kid = jwt.get_unverified_header(token).get("kid")
                found = next((k for k in jwks.keys if k.key_id == kid), None)
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
        return Principal(str(claims["sub"]), frozenset(roles)), float(claims["exp"])


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _unusable(exc: BaseException) -> str:
    return f"JWT keys unusable ({type(exc).__name__})"


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
