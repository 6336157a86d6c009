"""Credentials verified a moment ago, reused for a few seconds: a client sending the same
token or key on every request then costs one SHA-256 of it, not a signature check (a JWT's
HS256 verification is most of what security adds to a request).

Entries are keyed by the SHA-256 of the credential, never the credential itself. One never
outlives its token's ``exp``, and each remembers the keys it was verified against (the keys
file's records, the JWT keys): once those are read again, which is how a key is revoked or a
signing key withdrawn, the entry no longer counts, at the same tick as without the cache.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from alveary import Principal

Entry = tuple[float, object, Principal]
"""When the entry expires (monotonic seconds), the keys it was verified with, the principal."""


class Verified:
    """At most ``size`` verified credentials, each kept at most ``ttl`` seconds (0: none)."""

    def __init__(
        self,
        ttl: float,
        size: int,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self.wall = wall
        self._entries: dict[bytes, Entry] = {}

    def get(self, credential: str, keys: object) -> Principal | None:
        """The principal ``credential`` was verified as against ``keys``, if still fresh."""
        if not self.ttl:
            return None
        found = self._entries.get(_digest(credential))
        if found is None or found[1] is not keys or found[0] <= self.clock():
            return None
        return found[2]

    def put(
        self, credential: str, keys: object, principal: Principal, expires: float | None = None
    ) -> None:
        """Remember that ``credential`` is ``principal`` by ``keys`` (the object holding the
        keys it was checked against, read before checking); ``expires`` is a token's ``exp``
        (epoch seconds), past which the entry is not used."""
        keep = self.ttl if expires is None else min(self.ttl, expires - self.wall())
        if keep <= 0:
            return
        entries = self._entries
        if len(entries) >= self.size:
            del entries[next(iter(entries))]
        entries[_digest(credential)] = (self.clock() + keep, keys, principal)


def _digest(credential: str) -> bytes:
    return hashlib.sha256(credential.encode()).digest()
