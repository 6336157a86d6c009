"""alveary from Python: register a local agent, submit tasks, await their outcomes, watch events.

uv run python examples/quickstart.py
"""

from __future__ import annotations

import asyncio

from alveary import (
    AgentSpec,
    Event,
    Orchestrator,
    PermanentFailure,
    Task,
    TaskSpec,
    hookimpl,
)


async def divide(task: Task) -> float:
    """The agent's handler: the local runtime calls it with each task."""
    numerator, denominator = task.payload
    if denominator == 0:
        raise PermanentFailure("division by zero")  # fails at once, without retries
    return float(numerator) / float(denominator)


class PrintEvents:
    """A plugin given directly to the orchestrator: prints every event as it happens."""

    name = "print-events"

    @hookimpl
    def alveary_event(self, event: Event) -> None:
        print(f"  event {event.seq:>2}  {event.type:<20} {dict(event.data)}")


async def main() -> None:
    async with Orchestrator.from_config({}, plugins=[PrintEvents()]) as orch:
        await orch.register(
            AgentSpec(
                name="calculator",
                capabilities={"math"},
                capacity=4,
                options={"handler": divide},
            )
        )
        work = [(6, 3), (1, 4), (1, 0)]
        handles = [
            await orch.submit(TaskSpec(kind="divide", payload=pair, requires={"math"}))
            for pair in work
        ]
        for pair, handle in zip(work, handles, strict=True):
            outcome = await handle.result()
            shown = outcome.value if outcome.ok else outcome.error
            print(f"divide {pair}: {outcome.state.value}: {shown} (attempts: {outcome.attempts})")
        print("tasks by state:", dict(orch.metrics().tasks))


if __name__ == "__main__":
    asyncio.run(main())
