"""``[plugins.security]``: where keys, tokens and the audit log live, the roles, the limits."""

from __future__ import annotations

import difflib
from typing import Any

import attrs
from alveary import FieldError
from alveary.validators import count, non_negative, positive

from ._rules import ACTIONS, BUILTIN, Rule


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


def _absolute(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for path in value:
        if not path.startswith("/"):
            raise FieldError(attribute.name, f"expected absolute paths, got {path!r}")


def _action(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ACTIONS:
        raise FieldError(
            attribute.name, f"unknown action {value!r} (expected {', '.join(ACTIONS)})"
        )


@attrs.frozen
class Actions:
    """``[plugins.security.commands.actions]``: what the guard does at each risk level."""

    low: str = attrs.field(default="allow", validator=_action)
    medium: str = attrs.field(default="log", validator=_action)
    high: str = attrs.field(default="approve", validator=_action)
    critical: str = attrs.field(default="block", validator=_action)


def _unique(instance: object, attribute: attrs.Attribute[Any], value: tuple[Rule, ...]) -> None:
    seen: set[str] = set()
    for rule in value:
        if rule.id in seen:
            raise FieldError(attribute.name, f"two rules have the id {rule.id!r}")
        seen.add(rule.id)


def _builtin(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    known = [rule.id for rule in BUILTIN]
    for rule_id in value:
        if rule_id not in known:
            raise FieldError(
                attribute.name, f"no built-in rule {rule_id!r}: {unknown_id(rule_id, known)}"
            )


def unknown_id(rule_id: str, known: list[str]) -> str:
    close = difflib.get_close_matches(rule_id, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(known)}"


@attrs.frozen
class Commands:
    """``[plugins.security.commands]``: the dangerous-command guard. ``rules`` are added to
    the built-in ones (a rule with a built-in's id replaces it); ``disable`` removes built-in
    rules by id; ``writable`` names directories besides the workspace that commands may
    write (``/tmp``)."""

    actions: Actions = attrs.field(factory=Actions)
    rules: tuple[Rule, ...] = attrs.field(default=(), validator=_unique)
    disable: tuple[str, ...] = attrs.field(default=(), validator=_builtin)
    writable: tuple[str, ...] = attrs.field(default=(), validator=_absolute)


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
    """Decisions, and verified credentials, kept at most; the oldest is dropped first."""
    verified_ttl: float = attrs.field(default=10.0, validator=non_negative)
    """How long a verified token or API key is reused without checking its signature or hash
    again, in seconds (never past the token's ``exp``; keys changing forget them all); 0:
    check every request."""
    commands: Commands = attrs.field(factory=Commands)
    """The dangerous-command guard's actions and rules."""
    audit_allowed: bool = True
    """Audit allowed actions too (modification, administration, data access), not only
    denials and authentications."""
