"""Who leads a Redis store that several orchestrators share: a lease in one key.

The leader holds ``{prefix}:lease`` (its token, with a time to live of ``ttl`` seconds) and
renews it every third of that. The others stand by, trying to take it as often; when a leader
dies its lease lapses and one of them takes over within ``ttl`` plus a third. A leader that
cannot renew for most of ``ttl`` (the server unreachable, the process paused) gives the lead
up before it can lapse, and every write it makes is fenced: it lands only while the lease is
still its own (``WATCH`` on the lease key around the write's ``MULTI``/``EXEC``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("alveary.state")

RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


def holder_name(token: str | None) -> str:
    """The leader as people read it, ``host:pid``, from its token."""
    return token.rsplit(":", 1)[0] if token else "nobody"


class Lease:
    """One orchestrator's claim on the lease key."""

    def __init__(self, client: Any, key: str, ttl: float) -> None:
        self._client = client
        self.key = key
        self.ttl = ttl
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        """Whether it was ever taken: a store that never connected has nothing to free."""
        self.lost: str | None = None
        self.lock = asyncio.Lock()
        """Held around each renewal and each fenced write, so a renewal never trips the
        ``WATCH`` of a write of the same process."""
        self._renewer: asyncio.Task[None] | None = None
        self._lose: Callable[[str], None] = lambda reason: None

    async def acquire(self, standing_by: Callable[[str], None]) -> None:
        """Return once this process holds the lease; meanwhile tell ``standing_by`` who
        holds it, each time that changes."""
        ms = round(self.ttl * 1000)
        while not await self._client.set(self.key, self.token, nx=True, px=ms):
            holder = await self._client.get(self.key)
            if holder is not None:
                standing_by(holder_name(holder))
            await asyncio.sleep(self.ttl / 3)
        self.held = True
        log.info("leading the store", lease=self.key, ttl=self.ttl)

    def keep(self, lose: Callable[[str], None]) -> None:
        """Renew the lease in the background; call ``lose`` once, with the reason, if it is
        taken or cannot be renewed in time."""
        self._lose = lose
        self._renewer = asyncio.get_running_loop().create_task(self._renew())

    def give_up(self, reason: str) -> None:
        """The lease is not this process's any more: say so, once."""
        if self.lost is None:
            self.lost = reason
            log.error("lost the store's lease", reason=reason)
            self._lose(reason)

    async def _renew(self) -> None:
        renewed = time.monotonic()
        ms = round(self.ttl * 1000)
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                async with self.lock:
                    kept = await self._client.eval(RENEW, 1, self.key, self.token, ms)
            except Exception as exc:  # unreachable: give the lead up before the lease lapses
                if time.monotonic() - renewed < self.ttl * 0.7:
                    continue
                reason = f"could not renew the store's lease for {self.ttl * 0.7:.1f} s ({exc})"
            else:
                if kept:
                    renewed = time.monotonic()
                    continue
                holder = await self._holder()
                reason = f"the store's lease passed to {holder_name(holder)}"
            self.give_up(reason)
            return

    async def _holder(self) -> str | None:
        try:
            found: str | None = await self._client.get(self.key)
            return found
        except Exception:
            return None

    async def release(self) -> None:
        """Stop renewing, and free the lease at once if it is still this process's, so a
        standby need not wait for it to lapse."""
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        if self.held and self.lost is None:
            free = "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end"
            try:
                await self._client.eval(free, 1, self.key, self.token)
            except Exception as exc:  # it lapses by itself
                log.warning("could not free the store's lease", error=str(exc))
