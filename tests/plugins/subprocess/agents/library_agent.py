"""A protocol agent written with alveary.agent: one async handler dispatching on the kind."""

from __future__ import annotations

import asyncio
import os
import sys

from alveary import PermanentFailure
from alveary.agent import Job, agent

CAPACITY = int(os.environ.get("CAPACITY", "4"))
running = 0
everyone_in = asyncio.Event()


@agent(
    capabilities={"echo", "barrier", "sleep", "once", "fail", "perm", "log", "print", "env"},
    capacity=CAPACITY,
    version="2.1",
    metrics=lambda: {"context": 0.25},
)
async def worker(job: Job) -> object:
    global running
    if job.kind == "barrier":  # returns only once `payload` jobs run at the same time
        running += 1
        if running >= job.payload:
            everyone_in.set()
        await everyone_in.wait()
        return running
    if job.kind == "sleep":
        await asyncio.sleep(job.payload)
        return "slept"
    if job.kind == "once":  # stalls on its first attempt, works on the next
        if job.attempt == 1:
            await asyncio.sleep(3600)
        return f"attempt {job.attempt}"
    if job.kind == "fail":
        raise ValueError(f"no good on attempt {job.attempt}")
    if job.kind == "perm":
        raise PermanentFailure("never works")
    if job.kind == "log":
        job.log(f"working on {job.payload}")
        print("stray print to stdout", flush=True)
        os.write(1, b"raw write to fd 1\n")
        print("a note on stderr", file=sys.stderr, flush=True)
        return "logged"
    if job.kind == "env":
        return {k: os.environ.get(k) for k in job.payload}
    return job.payload


if __name__ == "__main__":
    worker.run()
