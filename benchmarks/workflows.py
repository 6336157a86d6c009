"""Benchmark alveary-workflows: the scheduling overhead per step of a 10,000-step DAG.

    uv run python benchmarks/workflows.py [--steps 10000] [--width 100]

Builds a layered DAG (``steps / width`` layers; each step needs up to three steps of the
layer before, one of them through a payload reference) and times, with echo agents in the
same process and the memory store:

- building and checking the workflow (references, cycles, topological order);
- running it, per step;
- the same number of plain tasks, layer by layer (submit a layer, wait for it): what the
  kernel alone costs for that shape; and all of them at once, the kernel's floor.

The overhead per step is the run's time per step minus the layered plain tasks'. Prints
microseconds; never fails on a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from alveary import AgentSpec, Orchestrator, TaskSpec
from alveary.testing import echo, orchestrator
from alveary_workflows import Step, Workflow, Workflows


def layered(steps: int, width: int, seed: int = 1) -> Workflow:
    """``steps`` steps in layers of ``width``; each needs up to three of the layer before."""
    rng = random.Random(seed)
    made: list[Step] = []
    for i in range(steps):
        layer = i // width
        if layer == 0:
            made.append(Step(f"s{i}", "echo", {"n": i}))
            continue
        before = range((layer - 1) * width, layer * width)
        needs = rng.sample(before, min(3, len(before)))
        payload = {"n": i, "from": f"{{s{needs[0]}.value.n}}"}
        made.append(Step(f"s{i}", "echo", payload, after=[f"s{n}" for n in needs[1:]]))
    return Workflow("bench", made)


async def agents(orch: Orchestrator) -> None:
    for i in range(4):
        spec = AgentSpec(f"a{i}", {"echo"}, capacity=64, options={"handler": echo})
        await orch.register(spec)


async def run_workflow(workflow: Workflow) -> float:
    async with orchestrator({"plugins": {"enabled": ["workflows"]}}) as orch:
        await agents(orch)
        plugin = orch.plugins["workflows"]
        assert isinstance(plugin, Workflows)
        start = time.perf_counter()
        run = await plugin.start(workflow)
        result = await run.result()
        elapsed = time.perf_counter() - start
    assert result.state.value == "succeeded", result.state
    return elapsed


async def run_plain(steps: int, width: int, layered: bool) -> float:
    async with orchestrator({}) as orch:
        await agents(orch)
        start = time.perf_counter()
        for first in range(0, steps, width if layered else steps):
            batch = range(first, min(steps, first + (width if layered else steps)))
            handles = [await orch.submit(TaskSpec("echo", {"n": i})) for i in batch]
            await asyncio.gather(*(handle.result() for handle in handles))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--width", type=int, default=100)
    args = parser.parse_args()
    steps, width = args.steps, args.width

    start = time.perf_counter()
    workflow = layered(steps, width)
    built = time.perf_counter() - start
    ran = min(asyncio.run(run_workflow(workflow)) for _ in range(3))
    plain = min(asyncio.run(run_plain(steps, width, layered=True)) for _ in range(3))
    floor = min(asyncio.run(run_plain(steps, width, layered=False)) for _ in range(3))

    per = 1e6 / steps
    print(f"{steps} steps, {steps // width} layers of {width}; best of 3 runs, us per step")
    print(f"{'build and check the workflow':<36} {built * per:8.1f}")
    print(f"{'run the workflow':<36} {ran * per:8.1f}")
    print(f"{'plain tasks, layer by layer':<36} {plain * per:8.1f}")
    print(f"{'plain tasks, all at once':<36} {floor * per:8.1f}")
    print(f"{'overhead per step (run - layered)':<36} {(ran - plain) * per:8.1f}")


if __name__ == "__main__":
    main()
