"""The ``security`` plugin: authenticates every caller, authorizes every action, limits
rates and writes the audit log.

Credentials are the mapping the kernel passes on (a gateway passes its HTTP headers, with
lowercase names):

- ``authorization``: ``Bearer <token>``, a JWT or an API key (``alv_...``);
- ``x-api-key`` or ``api_key``: an API key;
- ``client``: the caller's address, for the limit on failed authentications.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import alveary
from alveary import Denied, Principal

from . import _config
from ._audit import AuditLog
from ._checks import problems
from ._commands import Guard
from ._jwt import TokenError, Verifier
from ._keys import PREFIX, KeyStore
from ._limits import Buckets, Limited
from ._policy import Policy
from ._verified import Verified

_CATEGORY = {
    "task.submit": "modification",
    "task.cancel": "modification",
    "task.requeue": "modification",
    "task.approve": "modification",
    "task.read": "data_access",
    "events.read": "data_access",
}
"""Audit category of an allowed action; the others are administration."""


class Security:
    """API keys and JWT bearer tokens, roles per action and capability, rate limits, a
    hash-chained audit log, and the dangerous-command guard."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self.policy = Policy(config.roles, config.cache_ttl, config.cache_size)
        self.guard = Guard.from_config(config.commands)
        """The dangerous-command guard for ``[plugins.security.commands]``."""
        self.keys = KeyStore(config.keys_file) if config.keys_file else None
        self.audit = AuditLog(config.audit_log) if config.audit_log else None
        limits = config.limits
        self._requests = Buckets(limits.rate, limits.burst, limits.clients)
        self._failures = Buckets(
            limits.failures / limits.failure_window, limits.failures, limits.clients
        )
        self._verifier: Verifier | None = None
        self._verified = Verified(config.verified_ttl, config.cache_size)
        self._background: asyncio.Future[None] | None = None

    # -- configuration and lifecycle -----------------------------------------------------------

    @alveary.hookimpl
    def alveary_check_config(self, config: alveary.Config) -> list[str]:
        return problems(self.config, config)

    @alveary.hookimpl
    async def alveary_startup(self, orchestrator: alveary.Host) -> None:
        if self.config.jwt is not None:
            self._verifier = await asyncio.to_thread(Verifier, self.config.jwt)
        await asyncio.to_thread(self._sync)

    @alveary.hookimpl
    def alveary_tick(self, orchestrator: alveary.Host, now: float) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().run_in_executor(None, self._sync)

    @alveary.hookimpl
    async def alveary_shutdown(self, orchestrator: alveary.Host) -> None:
        if self._background is not None:
            await asyncio.wait([self._background])
        await asyncio.to_thread(self._sync)

    # -- the gates -----------------------------------------------------------------------------

    @alveary.hookimpl
    def alveary_authenticate(self, credentials: Mapping[str, Any]) -> Principal:
        client = str(credentials.get("client", ""))
        wait = self._failures.wait(client) if client else 0.0
        if wait:
            self._audit("authentication", "limited", client=client)
            raise Limited(f"too many failed authentications from {client}", wait)
        method, principal, reason = self._identify(credentials)
        if principal is None:
            if client and method != "none":
                self._failures.take(client)
            self._audit("authentication", "denied", method=method, client=client, reason=reason)
            raise Denied(f"not authenticated: {reason}")
        wait = self._requests.take(principal.id)
        if wait:
            self._audit("authentication", "limited", principal=principal.id, client=client)
            raise Limited(f"request rate of {principal.id} exceeded", wait)
        if self.config.audit_allowed:
            self._audit("authentication", "allowed", method=method, principal=principal.id)
        return principal

    @alveary.hookimpl
    def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool:
        missing = self.policy.missing(principal, action, resource)
        if missing:
            category = "authorization" if action in _CATEGORY else "privilege_escalation"
            self._audit(
                category,
                "denied",
                principal=principal.id,
                action=action,
                resource=resource,
                reason=missing,
            )
            raise Denied(missing)
        if self.config.audit_allowed and self.audit is not None:
            self.audit.record(
                _CATEGORY.get(action, "administration"),
                "allowed",
                principal=principal.id,
                action=action,
                resource=resource,
            )
        return True

    @alveary.hookimpl
    def alveary_command_check(
        self, task: alveary.Task, agent: alveary.Agent, command: Any, workspace: str | None
    ) -> alveary.CommandVerdict:
        verdict = self.guard.check(command, workspace=workspace)
        if verdict.action != "allow":
            self._audit(
                "privilege_escalation" if verdict.action == "block" else "modification",
                f"command {verdict.action}",
                task=task.id,
                agent=agent.name,
                risk=verdict.risk,
                rules=list(verdict.rules),
                reason=verdict.reason,
            )
        return verdict

    # -- helpers -------------------------------------------------------------------------------

    def _identify(self, credentials: Mapping[str, Any]) -> tuple[str, Principal | None, str]:
        """(method, principal or None, why not): never a word of the secret itself."""
        scheme, _, token = str(credentials.get("authorization", "")).partition(" ")
        key = credentials.get("x-api-key") or credentials.get("api_key")
        if scheme.lower() == "bearer" and token.startswith(PREFIX):
            key = token
        elif scheme.lower() == "bearer" and token:
            return "jwt", *self._token(token.strip())
        if not key:
            return "none", None, "no credentials (authorization or x-api-key)"
        if self.keys is None:
            return "api_key", None, "API keys are not enabled"
        if self.keys.broken:
            return "api_key", None, self.keys.broken
        presented, stored = str(key), self.keys.stored
        principal = self._verified.get(presented, stored)
        if principal is None:
            found = self.keys.verify(presented, stored)
            if found is None:
                return "api_key", None, "unknown or revoked API key"
            principal = Principal(f"key:{found.name}", frozenset({found.role}))
            self._verified.put(presented, stored, principal)
        return "api_key", principal, ""

    def _token(self, token: str) -> tuple[Principal | None, str]:
        verifier = self._verifier
        if verifier is None:
            return None, "JWT is not enabled"
        if verifier.broken:
            return None, verifier.broken
        keys = verifier.keys
        principal = self._verified.get(token, keys)
        if principal is None:
            try:
                principal, expires = verifier.principal(token, keys)
            except TokenError as exc:
                return None, f"invalid token: {exc}"
            self._verified.put(token, keys, principal, expires)
        return principal, ""

    def _audit(self, category: str, event: str, **fields: Any) -> None:
        if self.audit is not None:
            self.audit.record(category, event, **fields)

    def _sync(self) -> None:
        """Blocking work, in a thread: re-read a changed keys file or JWT key file, write the
        audit buffer."""
        if self.keys is not None:
            self.keys.refresh()
        if self._verifier is not None:
            self._verifier.refresh()
        if self.audit is not None:
            self.audit.flush()
