"""How fast the autoscale plugin answers a burst, on a real orchestrator with local agents and
the default one-second tick.

    uv run python benchmarks/autoscale_burst.py      # about 20 seconds

1. ``short``: 400 tasks of 0.1 s submitted at once to a pool of ``min = 1, max = 16`` with
   the default policy: the most agents the pool had while tasks were still queued, and the
   seconds until the last task finished.
2. ``docs``: the first configuration of docs/plugins/autoscale.md (a pool of 2-40) with 200
   tasks held queued: the work signal wants 21-22 agents (2 in flight and 198 tasks of 1 s to
   do within 10 s); the seconds from the submission until the pool first had each size, up to
   22 (given up after 60 s), and the decisions made before the first scale-up.

Prints a table and writes ``benchmarks/results/autoscale_burst.json``. Numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import alveary
from alveary import TaskSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "plugins" / "autoscale.md"
GIVE_UP = 60.0


class Decisions:
    """Keeps the ``autoscale.decision`` events with the time they were emitted."""

    name = "decisions"

    def __init__(self) -> None:
        self.seen: list[tuple[float, Mapping[str, Any]]] = []

    @alveary.hookimpl
    def alveary_event(self, event: alveary.Event) -> None:
        if event.type == "autoscale.decision":
            self.seen.append((time.perf_counter(), event.data))


async def until(condition: Callable[[], bool], timeout: float) -> None:
    """Wait until ``condition()`` holds or ``timeout`` seconds have passed."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            return
        await asyncio.sleep(0.01)


def pool(name: str, size: dict[str, int], capability: str, handler: Any) -> dict[str, Any]:
    return {
        "name": name,
        "size": size,
        "capabilities": [capability],
        "options": {"handler": handler},
    }


async def short_burst() -> dict[str, Any]:
    async def short(task: alveary.Task) -> None:
        await asyncio.sleep(0.1)

    data = {
        "plugins": {"enabled": ["autoscale"]},
        "pools": [pool("w", {"min": 1, "max": 16}, "work", short)],
    }
    async with alveary.Orchestrator.from_config(data) as orch:
        await asyncio.sleep(3.0)  # the scaler sees the idle pool first, as in a service
        start = time.perf_counter()
        handles = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(400)]
        peak = 0
        while any(h.task.state is alveary.TaskState.QUEUED for h in handles):
            peak = max(peak, len(orch.pools["w"].agents))
            await asyncio.sleep(0.01)
        for handle in handles:
            await handle.result()
        return {"peak_agents_while_queued": peak, "drained_s": time.perf_counter() - start}


async def docs_burst() -> dict[str, Any]:
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    data = tomllib.loads(block.group(1))
    gate = asyncio.Event()

    async def held(task: alveary.Task) -> None:
        await gate.wait()

    data["pools"][0]["options"]["handler"] = held
    decisions = Decisions()
    async with alveary.Orchestrator.from_config(data, [decisions]) as orch:
        reviewers = orch.pools["reviewers"]
        await asyncio.sleep(3.0)
        start = time.perf_counter()
        for i in range(200):
            await orch.submit(TaskSpec("r", i, requires={"review"}))
        reached: dict[int, float] = {}

        def grown() -> bool:
            reached.setdefault(len(reviewers.agents), time.perf_counter() - start)
            return len(reviewers.agents) >= 22

        await until(grown, GIVE_UP)
        directions = [d["direction"] for _, d in decisions.seen]
        ups = directions.index("up") if "up" in directions else len(directions)
        result = {
            "agents_after_s": {n: round(t, 2) for n, t in sorted(reached.items())},
            "decisions_before_first_up": [
                f"{d['direction']}: {d['held']}" for _, d in decisions.seen[:ups]
            ],
        }
        gate.set()
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=HERE / "results" / "autoscale_burst.json")
    args = parser.parse_args(argv)
    results = {"short": asyncio.run(short_burst()), "docs": asyncio.run(docs_burst())}
    short, docs = results["short"], results["docs"]

    def after(n: int) -> str:
        found = [t for size, t in docs["agents_after_s"].items() if size >= n]
        return f"{min(found):.1f} s" if found else f"not in {GIVE_UP:.0f} s"

    print(
        f"short: peak {short['peak_agents_while_queued']} agents while queued, "
        f"all done in {short['drained_s']:.1f} s"
    )
    print(
        f"docs: 9 agents after {after(9)}, 21 after {after(21)}, 22 after {after(22)}; "
        f"decisions before the first scale-up: {docs['decisions_before_first_up'] or 'none'}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
