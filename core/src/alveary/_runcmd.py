"""``alveary run``: start the orchestrator a config describes and serve until a signal, or
until another replica takes the store's lease."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys

from . import _config
from ._orchestrator import Orchestrator
from ._states import TaskState
from ._values import counted

YOUNG_GC_THRESHOLD = 10_000
"""Allocations between two collections of CPython's youngest generation in ``alveary run``
(CPython's default: 700)."""


def run(path: str | None) -> int:
    """Load the config at ``path`` and serve it; returns the exit status."""
    orch = Orchestrator(_config.load(path))
    collect_less()
    return asyncio.run(serve(orch))


def collect_less() -> None:
    """Run the cyclic garbage collector's youngest generation every ``YOUNG_GC_THRESHOLD``
    allocations instead of every 700.

    A busy orchestrator has thousands of tasks in flight; collected every 700 allocations,
    their records survive into the oldest generation, and full collections, which walk every
    object the process keeps (finished tasks, the event ring), come often: with the gateway
    on, half of the time of a burst of 50,000 tasks. This is process-wide, so only the
    command that owns the process (``alveary run``) does it; a program embedding an
    ``Orchestrator`` decides for itself."""
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])


async def serve(orch: Orchestrator) -> int:
    """Start ``orch`` (a standby replica waits for the lease first), serve until SIGINT or
    SIGTERM, then drain and stop: 0; 1 if the orchestrator stopped itself (lost lease)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    store = orch.config.orchestrator.store
    if orch.store.durable:
        where = getattr(orch.store, "where", None)  # optional: where the records are
        shown = f", records in {where}" if where else ""
        print(f"alveary: store {store!r} (durable{shown})", file=sys.stderr)
    else:
        print(
            f"alveary: store {store!r} is not durable: queued and running tasks are lost if "
            "this process dies (enable the 'state' plugin for 'sqlite')",
            file=sys.stderr,
        )
    signalled = asyncio.ensure_future(stop.wait())
    try:
        announcing = asyncio.ensure_future(_announce_standby(orch))
        starting = asyncio.ensure_future(orch.start())  # a standby replica waits in here
        await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
        announcing.cancel()
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await orch.stop()
            print("alveary: stopped before the start finished", file=sys.stderr)
            return 0
        starting.result()  # a start that failed raises here
        agents, pools = counted(len(orch.agents()), "agent"), counted(len(orch.pools), "pool")
        print(f"alveary: running with {agents} in {pools}; Ctrl-C to stop", file=sys.stderr)
        stopped = asyncio.ensure_future(orch.stopped.wait())
        await asyncio.wait({stopped, signalled}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
    finally:
        signalled.cancel()
    if orch.lost_lease is not None:
        print(f"alveary: stopped: {orch.lost_lease}", file=sys.stderr)
        return 1
    print("alveary: stopping (draining agents)", file=sys.stderr)
    await orch.stop()
    counts = {state: n for state, n in orch.metrics().tasks.items() if n}
    tasks = ", ".join(f"{n} {state}" for state, n in counts.items())
    kept = ""
    if orch.store.durable and any(not TaskState(state).terminal for state in counts):
        where = getattr(orch.store, "where", None) or f"store {store!r}"
        kept = f" (the unfinished kept in {where} for the next run)"
    print(f"alveary: stopped; tasks: {tasks or 'none'}{kept}", file=sys.stderr)
    return 0


async def _announce_standby(orch: Orchestrator) -> None:
    """Say once, if it comes to that, that this replica stands by and for whom."""
    async for event in orch.events():
        if event.type == "orchestrator.standby":
            print(
                f"alveary: standing by: {event.data['leader']} leads the store; this one "
                "takes over when its lease lapses (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
            return
