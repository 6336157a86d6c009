"""The store's lifecycle: lead it (a store shared by replicas), open it, close it.

A store that several orchestrators share (Redis) may define ``lead(standing_by, lost)``: it
returns once this process holds the store's lease, calling ``standing_by(leader)`` while
another process holds it, and later ``lost(reason)`` if the lease is lost. Until it leads,
the orchestrator stands by: ``submit`` refuses with ``StandingBy`` naming the leader.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from ._components import Store
from ._config import OrchestratorConfig
from ._errors import StoreError
from ._events import EventBus
from ._guard import Overrun, bounded

log = structlog.get_logger("alveary")


class StoreKeeper:
    """Leads, opens and closes the store; knows the leader while standing by."""

    def __init__(
        self,
        store: Store,
        settings: OrchestratorConfig,
        events: EventBus,
        lost: Callable[[str], None],
    ) -> None:
        self.store = store
        self._settings = settings
        self._events = events
        self._lost = lost
        self.standby: str | None = None
        """The leader, while this orchestrator stands by."""

    async def open(self) -> None:
        """Wait for the lease (if the store has one; as long as it takes), then open the
        store within ``start_timeout``; raise ``StoreError`` with one line if it cannot."""
        name, settings = self._settings.store, self._settings
        lead = getattr(self.store, "lead", None)
        try:
            if lead is not None:
                await lead(self._standing_by, self._lose)
                self.standby = None
            await bounded(self.store.open(), settings.start_timeout, settings.cancel_grace)
        except StoreError:
            raise
        except Overrun:
            raise StoreError(
                f"store {name!r} did not open within {settings.start_timeout:g} s"
            ) from None
        except Exception as exc:
            raise StoreError(f"store {name!r} could not open: {exc}") from exc

    async def close(self, timeout: float) -> None:
        """Flush the store within ``timeout`` (at least ``cancel_grace``); one that fails or
        hangs is logged and left behind."""
        grace = self._settings.cancel_grace
        try:
            await bounded(self.store.close(), max(timeout, grace), grace)
        except Exception:
            log.exception("the store failed to close", store=self._settings.store)

    def _standing_by(self, leader: str) -> None:
        if self.standby != leader:
            log.debug("standing by: another orchestrator leads the store", leader=leader)
            self._events.emit("orchestrator.standby", data={"leader": leader})
        self.standby = leader

    def _lose(self, reason: str) -> None:
        log.error("lost the store's lease; stopping", reason=reason)
        self._events.emit("orchestrator.lost_lease", data={"reason": reason})
        self._lost(reason)
