"""Protocol agents for the container tests (``python -m alveary.agent boxed:echo``)."""

from __future__ import annotations

import asyncio
import os

from alveary.agent import Job, agent


@agent(capabilities={"echo"}, capacity=4)
def echo(job: Job) -> object:
    return job.payload


@agent(capabilities={"t"})
def fail(job: Job) -> object:
    raise RuntimeError(f"cannot do {job.payload!r}")


@agent(capabilities={"hang"})
async def hang(job: Job) -> object:
    await asyncio.Event().wait()
    return None


@agent(capabilities={"inside"})
def inside(job: Job) -> object:
    """Where it runs: its working directory, what it may write, its environment."""
    wrote = []
    for folder in ("/workspace", "/src"):
        try:
            with open(os.path.join(folder, "probe.txt"), "w") as probe:
                probe.write(str(job.payload))
            wrote.append(folder)
        except OSError:
            pass
    return {
        "cwd": os.getcwd(),
        "wrote": wrote,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("ALVEARY_", "TOKEN"))},
        "payload": job.payload,
    }


@agent(capabilities={"slow"})
async def slow(job: Job) -> object:
    await asyncio.sleep(float(job.payload))
    return job.payload


@agent(capabilities={"work"})
async def stuck_first(job: Job) -> object:
    """Works on its first attempt forever (until its container is killed)."""
    if job.attempt == 1:
        await asyncio.Event().wait()
    return {"payload": job.payload, "attempt": job.attempt}
