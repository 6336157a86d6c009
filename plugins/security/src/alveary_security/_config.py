"""``[plugins.security]``: where keys, tokens and the audit log live, the roles, the limits."""

from __future__ import annotations

import attrs
from alveary.validators import count, positive


@attrs.frozen
class Role:
    """``[plugins.security.roles.NAME]``: what a role may do, and to what."""

    allow: tuple[str, ...] = ()
    """Actions granted: exact (``task.submit``), a family (``task.*``) or everything (``*``)."""
    capabilities: tuple[str, ...] = ()
    """Resources the actions apply to (task kinds, agent names; ``*`` and globs allowed);
    empty means every resource."""


@attrs.frozen
class Jwt:
    """``[plugins.security.jwt]``: how bearer tokens are verified. Set exactly one key source:
    ``secret_env`` or ``secret_file`` (HS256), ``public_key_file`` (RS256 or ES256, from the
    key's type) or ``jwks_file`` (each key's own algorithm)."""

    secret_env: str = ""
    secret_file: str = ""
    public_key_file: str = ""
    jwks_file: str = ""
    audience: str = ""
    """Required ``aud``; empty accepts tokens without one only."""
    issuer: str = ""
    """Required ``iss``; empty skips the check."""
    leeway: float = attrs.field(default=30.0, validator=positive)
    """Clock skew tolerated on ``exp`` and ``nbf``, in seconds."""
    roles_claim: str = "roles"
    """The claim naming the token's roles: a list or a space-separated string."""

    @property
    def sources(self) -> tuple[str, ...]:
        """The key sources set, by setting name."""
        names = ("secret_env", "secret_file", "public_key_file", "jwks_file")
        return tuple(n for n in names if getattr(self, n))


@attrs.frozen
class Limits:
    """``[plugins.security.limits]``: token buckets. Rates are per second."""

    rate: float = attrs.field(default=50.0, validator=positive)
    """Authenticated requests per second per principal, on average."""
    burst: int = attrs.field(default=100, validator=count)
    """Requests a principal may make at once."""
    failures: int = attrs.field(default=10, validator=count)
    """Failed authentications a client address may make per ``failure_window``."""
    failure_window: float = attrs.field(default=3600.0, validator=positive)
    """Seconds in which ``failures`` refill."""
    clients: int = attrs.field(default=100_000, validator=count)
    """Buckets kept at most per kind; the longest idle is dropped first."""


@attrs.frozen
class Config:
    """How the security plugin decides who is asking and what they may do."""

    keys_file: str = ""
    """Hashed API keys (JSON), written by ``alveary keys``; empty: no API keys."""
    audit_log: str = ""
    """Append-only, hash-chained JSON lines; empty: no audit log."""
    jwt: Jwt | None = None
    """Bearer tokens; absent: no JWT."""
    roles: dict[str, Role] = attrs.field(factory=dict)
    limits: Limits = attrs.field(factory=Limits)
    cache_ttl: float = attrs.field(default=300.0, validator=positive)
    """How long an authorization decision is reused, in seconds."""
    cache_size: int = attrs.field(default=10_000, validator=count)
    """Decisions kept at most; the oldest is dropped first."""
    audit_allowed: bool = True
    """Audit allowed actions too (modification, administration, data access), not only
    denials and authentications."""
