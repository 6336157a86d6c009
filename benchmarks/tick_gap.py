"""The longest gap between two ticks while a pool grows from 1 to N subprocess agents.

    uv run python benchmarks/tick_gap.py              # 200 Python protocol agents
    uv run python benchmarks/tick_gap.py --agents 50

A scaling plugin asks for N agents at once; a second plugin notes the time of every
``alveary_tick`` (every 0.1 s) until all N are ready. Pool starts run beside the tick, so the
longest gap should stay near the interval however long the agents take to start. Numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import alveary
from alveary import AgentState, Pool, PoolMetrics, hookimpl
from alveary.testing import until

INTERVAL = 0.1
AGENT = """
from alveary.agent import agent

@agent(capabilities=["echo"])
async def echo(job):
    return job.payload

if __name__ == "__main__":
    echo.run()
"""


class Grow:
    """Proposes ``target`` agents for every pool once ``go`` is set."""

    name = "grow"

    def __init__(self, target: int) -> None:
        self.target = target
        self.go = False

    @hookimpl
    def alveary_scale(self, pool: Pool, metrics: PoolMetrics) -> int | None:
        return self.target if self.go else None


class Ticks:
    """Notes when each tick came (monotonic seconds)."""

    name = "ticks"

    def __init__(self) -> None:
        self.times: list[float] = []

    @hookimpl
    def alveary_tick(self) -> None:
        self.times.append(time.monotonic())


async def measure(agents: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "agent.py")
        await asyncio.to_thread(script.write_text, AGENT, encoding="utf-8")
        config = {
            "orchestrator": {"tick_interval": INTERVAL, "shutdown_timeout": 30.0},
            "plugins": {"enabled": ["subprocess"], "subprocess": {"log_dir": tmp}},
            "pools": [
                {
                    "name": "p",
                    "runtime": "subprocess",
                    "size": {"min": 1, "max": agents},
                    "capabilities": ["echo"],
                    "options": {"command": [sys.executable, str(script)], "heartbeat": 0},
                }
            ],
        }
        grow, ticks = Grow(agents), Ticks()
        async with alveary.Orchestrator.from_config(config, [grow, ticks]) as orch:
            grow.go = True
            began = time.monotonic()
            first = len(ticks.times)
            await until(
                lambda: sum(a.state is AgentState.READY for a in orch.agents()) >= agents,
                timeout=600,
            )
            end = time.monotonic()
            during = ticks.times[first:]
    marks = [began, *during, end]  # a tick held up at either end counts too
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    return {
        "agents": agents,
        "ready_s": round(end - began, 2),
        "ticks": len(during),
        "longest_gap_s": round(max(gaps, default=0.0), 3),
        "interval_s": INTERVAL,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.agents))
    print(
        f"{result['agents']} agents ready in {result['ready_s']} s; {result['ticks']} ticks, "
        f"longest gap {result['longest_gap_s']} s (interval {INTERVAL} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
