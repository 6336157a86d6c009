"""The orchestrator under test in this process: built from a config, or from embedded defaults
with local agents that simulate work (``alveary_loadtest.agents:work``)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from alveary import AgentSpec, AgentState, Orchestrator, PoolSize, TaskSpec

from . import agents
from ._plan import Mix, Spawn

DEFAULTS: dict[str, Any] = {
    "orchestrator": {"store": "memory", "tick_interval": 0.2, "shutdown_timeout": 5.0},
}
"""The embedded orchestrator: the built-ins, no plugins; the agents come from the spawn phase."""

LIVE = frozenset({AgentState.READY, AgentState.BUSY})

NO_RESULT = "no result in time"
"""The error of a task that did not end within its mix entry's ``wait``."""


class InProcess:
    """Runs the orchestrator of ``config`` (or the embedded one) on this event loop."""

    def __init__(self, config: Path | None) -> None:
        shown = os.path.relpath(config) if config else "embedded"  # the report names no home
        self.name = f"in-process ({shown})"
        self.orch = Orchestrator.from_file(config) if config else Orchestrator.from_config(DEFAULTS)
        self.embedded = config is None
        self._cancelling: set[asyncio.Future[bool]] = set()
        self._started = False

    async def prepare(self) -> dict[str, Any]:
        await self.orch.start()
        self._started = True
        return {"agents": len(self.orch.agents()), "pools": sorted(self.orch.pools)}

    async def spawn(
        self, spawn: Spawn, capabilities: Iterable[str], ready: Callable[[int], None]
    ) -> list[dict[str, Any]]:
        """Register ``spawn.agents`` agents in batches (or, with ``spawn.pool``, grow that
        pool batch by batch and wait for its agents); one timing per batch."""
        batches = []
        done = 0
        while done < spawn.agents:
            size = min(spawn.agents, done + spawn.batch)
            began = time.perf_counter()
            if spawn.pool is None:
                await asyncio.gather(
                    *(self._register(i, spawn, capabilities) for i in range(done + 1, size + 1))
                )
            else:
                await self.orch.resize(spawn.pool, PoolSize(size, size))
                # the pool's agents start at the next tick: look often, it costs a scan
                while self.pool_ready(spawn.pool) < size:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            batches.append({"agents": size - done, "seconds": time.perf_counter() - began})
            done = size
            ready(sum(a.state in LIVE for a in self.orch.agents()))
        return batches

    def pool_ready(self, pool: str) -> int:
        return sum(a.pool == pool and a.state in LIVE for a in self.orch.agents())

    async def _register(self, i: int, spawn: Spawn, capabilities: Iterable[str]) -> None:
        await self.orch.register(
            AgentSpec(
                f"loadtest-{i}",
                set(capabilities),
                capacity=spawn.capacity,
                options={"handler": agents.work},
            )
        )

    async def run(self, mix: Mix) -> tuple[bool, str | None]:
        """Submit one task of ``mix`` and wait for its outcome: (succeeded, error)."""
        spec = TaskSpec(
            mix.kind,
            mix.payload,
            requires=set(mix.requires),
            timeout=mix.timeout,
            max_attempts=mix.attempts,
            queue_timeout=mix.wait,
        )
        handle = await self.orch.submit(spec)
        try:
            outcome = await asyncio.wait_for(handle.result(), mix.wait)
        except asyncio.TimeoutError:
            await handle.cancel()
            return False, NO_RESULT
        except asyncio.CancelledError:
            self._cancelling.add(asyncio.ensure_future(handle.cancel()))
            raise
        if outcome.ok:
            return True, None
        return False, outcome.state.value + (f": {outcome.error}" if outcome.error else "")

    async def close(self) -> None:
        await asyncio.gather(*self._cancelling, return_exceptions=True)
        if self._started:
            await self.orch.stop()
