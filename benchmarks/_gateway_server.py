"""The server side of ``gateway.py``, in a process of its own (``_gateway_server.py BURST``):
an orchestrator with the gateway and four no-op agents, collecting garbage as ``alveary run``
does (``ALVEARY_BENCH_GC=default``: as CPython does). It prints ``{"url", "pid"}`` once
serving, then answers one JSON command per line of standard input, one JSON line each:

- ``{"do": "burst", "tasks": N}``: N tasks submitted in-process at once, every result awaited;
  tasks/s, and the ``/v1/events`` subscribers connected and dropped;
- ``{"do": "round_trips", "n": N}``: N in-process round trips one at a time, for the HTTP
  ones to be compared with; their latencies in nanoseconds;
- ``{"do": "profile_start"}`` / ``{"do": "profile_stop", "path": P}``: run cProfile in between,
  and write its stats to P;
and stops at the end of its input.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import sys
import time
from typing import Any

import alveary
import structlog
from _common import collect_as_alveary_run
from alveary import AgentSpec, Orchestrator, TaskSpec

SPEC = TaskSpec("noop", None, requires={"noop"})


async def noop(task: alveary.Task) -> None:
    """The agents' handler: returns at once."""


EVENTS_PER_TASK = 8
"""At most, in a burst of no-op tasks: pending, queued, assigned, running, succeeded, and the
agent's busy and ready."""


def config(burst: int) -> dict[str, Any]:
    # A buffer one burst cannot fill: every subscriber gets every event, so the fan-out is
    # paid in full rather than cut short by dropping the subscriber. No larger: the ring
    # keeps that many events alive, and a ring of a million would be the garbage collector's
    # work in every measure here, not the gateway's.
    buffer = burst * EVENTS_PER_TASK
    gateway = {"listen": "127.0.0.1:0", "sse_buffer": buffer, "replay": 1_000}
    return {"plugins": {"enabled": ["gateway"], "gateway": gateway}}


async def burst(orch: Orchestrator, tasks: int) -> dict[str, Any]:
    start = time.perf_counter()
    handles = await asyncio.gather(*(orch.submit(SPEC) for _ in range(tasks)))
    await asyncio.gather(*(h.result() for h in handles))
    return {"tasks_per_s": tasks / (time.perf_counter() - start)}


async def round_trips(orch: Orchestrator, n: int) -> list[int]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        await (await orch.submit(SPEC)).result()
        samples.append(time.perf_counter_ns() - t0)
    return samples


async def main() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    profiler: cProfile.Profile | None = None
    async with Orchestrator.from_config(config(int(sys.argv[1]))) as orch:
        for i in range(4):
            spec = AgentSpec(f"a{i}", {"noop"}, capacity=256, options={"handler": noop})
            await orch.register(spec)
        gateway: Any = orch.plugins["gateway"]
        hub = gateway.hub
        await burst(orch, 2_000)  # warm up
        print(json.dumps({"url": gateway.url, "pid": os.getpid()}), flush=True)
        while line := await stdin.readline():
            command = json.loads(line)
            answer: dict[str, Any] = {}
            if command["do"] == "burst":
                answer = await burst(orch, command["tasks"])
                answer |= {"subscribers": len(hub._subscribers), "dropped": hub.dropped}
            elif command["do"] == "round_trips":
                answer = {"samples_ns": await round_trips(orch, command["n"])}
            elif command["do"] == "profile_start":
                profiler = cProfile.Profile()
                profiler.enable()
            elif command["do"] == "profile_stop" and profiler is not None:
                profiler.disable()
                profiler.dump_stats(command["path"])
                profiler = None
            print(json.dumps(answer), flush=True)
    await gateway.server.closed  # its streams end before the loop does


if __name__ == "__main__":
    # Standard output carries the answers; the log goes to standard error.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    collect_as_alveary_run()
    asyncio.run(main())
