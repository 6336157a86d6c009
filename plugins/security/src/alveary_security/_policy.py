"""Roles as data, and the decisions they give, cached on the hot path."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase

from alveary import Principal

from ._config import Role

Decision = tuple[float, str]
"""When a cached decision expires (monotonic seconds), and the missing rule ("" allows)."""


class Policy:
    """Decides whether a principal's roles allow an action on a resource and says which rule
    was missing when they do not. Decisions are kept ``ttl`` seconds, at most ``size`` of
    them, keyed on the principal (its id and roles), the action and the resource."""

    def __init__(
        self,
        roles: Mapping[str, Role],
        ttl: float,
        size: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.roles = dict(roles)
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._cache: dict[tuple[Principal, str, str], Decision] = {}

    def missing(self, principal: Principal, action: str, resource: str) -> str:
        """The rule missing for ``principal`` to do ``action`` on ``resource``; "" allows."""
        key = (principal, action, resource)
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        reason = self._decide(principal, action, resource)
        cache = self._cache
        if len(cache) >= self.size:
            del cache[next(iter(cache))]
        cache[key] = (now + self.ttl, reason)
        return reason

    def _decide(self, principal: Principal, action: str, resource: str) -> str:
        if not principal.roles:
            return f"{principal.id} has no role"
        known = [(name, self.roles[name]) for name in sorted(principal.roles) if name in self.roles]
        if not known:
            return f"no role of {principal.id} is defined ({', '.join(sorted(principal.roles))})"
        granting = [(n, r) for n, r in known if any(_action(a, action) for a in r.allow)]
        if not granting:
            names = ", ".join(n for n, _ in known)
            return f"no role of {principal.id} allows {action} (roles: {names})"
        for _, role in granting:
            if not role.capabilities or any(fnmatchcase(resource, c) for c in role.capabilities):
                return ""
        limits = "; ".join(f"{n}: {', '.join(r.capabilities)}" for n, r in granting)
        return f"no role of {principal.id} allows {action} on {resource!r} (capabilities {limits})"


def _action(granted: str, action: str) -> bool:
    """``task.*`` grants ``task.submit``; ``*`` grants everything."""
    if granted.endswith("*"):
        return action.startswith(granted[:-1])
    return granted == action
