"""Agent functions the tests' actors run: imported by Ray's workers (the session's cluster
puts this directory on their path), never by pytest."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from alveary import PermanentFailure
from alveary.agent import Job, agent


@agent(capabilities={"echo"}, capacity=4)
def echo(job: Job) -> Any:
    return job.payload


async def fail(job: Job) -> None:
    raise RuntimeError(f"cannot do {job.payload!r}")


def refuse(job: Job) -> None:
    raise PermanentFailure("never: bad input")


@agent
async def hang(job: Job) -> None:
    await asyncio.Event().wait()


def sleep(job: Job) -> None:
    """A plain function that hangs: its thread cannot be interrupted."""
    time.sleep(3600)


def unpicklable(job: Job) -> Any:
    return threading.Lock()


async def second_time(job: Job) -> Any:
    """Hangs on its first attempt, answers on the next."""
    if job.attempt <= 1:
        await asyncio.Event().wait()
    return {"attempt": job.attempt, "payload": job.payload}


not_callable = 42


def chatty(job: Job) -> str:
    job.log(f"reading {job.payload}")
    job.log("almost there", level="debug")
    return "read"
