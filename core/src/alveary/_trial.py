"""``alveary check --start``: start one agent of each pool through its real runtime, then stop
it, to find what only a start shows (a script that is missing, an agent that crashes while
loading, a ``hello`` that never comes)."""

from __future__ import annotations

import asyncio

import attrs

from ._config import Config, PoolConfig
from ._errors import AlvearyError
from ._records import PoolSize


async def start_each_pool(config: Config) -> list[str | None]:
    """Per pool of ``config``, in order: None if its agent started (and was stopped again),
    else the reason it did not, on one line.

    The orchestrator runs every plugin as ``alveary run`` would, but keeps no pool agents of
    its own (every pool is held at size 0) and uses the in-memory store, so no queued task
    is ever picked up by the agents started here."""
    from . import Orchestrator, StartFailed

    quiet = attrs.evolve(
        config,
        orchestrator=attrs.evolve(config.orchestrator, store="memory"),
        pools=tuple(attrs.evolve(pool, size=PoolSize(min=0)) for pool in config.pools),
    )
    async with Orchestrator(quiet) as orch:

        async def start(pool: PoolConfig) -> str | None:
            try:
                agent = await orch.register(pool.agent_spec(f"{pool.name}-check"))
            except (AlvearyError, ValueError) as exc:
                reason = exc.__cause__ if isinstance(exc, StartFailed) and exc.__cause__ else exc
                return " ".join(str(reason).split())
            await orch.deregister(agent.id, drain=False)
            return None

        return list(await asyncio.gather(*(start(pool) for pool in config.pools)))
