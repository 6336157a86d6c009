"""Running one hook command: in its own process group, fed the event on standard input,
killed at its timeout, cut off when it writes too much, tried again when it fails.

The process handling is the subprocess runtime's (``alveary_subprocess.process``): ``spawn``
starts a session of its own, ``stop_group`` SIGTERMs then SIGKILLs the whole group, so what
a hook started goes with it. Its one-shot runner is not reused: it is private, and turns
output into a task's value and exit statuses into task failures.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import alveary
import attrs
from alveary_subprocess.process import (
    describe_exit,
    feed_stdin,
    signal_group,
    spawn,
    stop_group,
)

_TAIL = 2048
"""Bytes of each stream kept for the report of a failed run."""


@attrs.frozen
class Run:
    """How one run of a command ended."""

    ok: bool
    error: str | None = None
    """Why it failed: ``exited with code 3``, ``timed out after 5 s``, ``cannot run ...``."""
    exit: int | None = None
    output: str = ""
    """The end of what it wrote to standard error, else to standard output."""
    took: float = 0.0
    tries: int = 1
    permanent: bool = False
    """Trying again would fail the same way (the program is missing)."""


@attrs.frozen
class Spec:
    """What to run and within which limits."""

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path | None
    timeout: float
    max_output: int
    grace: float


async def run(spec: Spec, stdin: bytes) -> Run:
    """Run ``spec.argv`` once. Cancelling it kills the process group at once (then
    re-raises): whoever cancels has no time to give it."""
    started = time.monotonic()
    try:
        child = await spawn(spec.argv, cwd=spec.cwd, env=spec.env)
    except alveary.PermanentFailure as exc:
        return Run(False, str(exc), permanent=True)
    except OSError as exc:  # out of processes or memory: it may work next time
        return Run(False, f"cannot run {spec.argv[0]!r}: {exc.strerror or exc}")
    tails = {"stdout": bytearray(), "stderr": bytearray()}
    total = [0]
    flooded: list[str] = []

    async def read(stream: asyncio.StreamReader | None, name: str) -> None:
        tail = tails[name]
        while stream is not None:
            chunk = await stream.read(65536)
            if not chunk:
                return
            total[0] += len(chunk)
            if total[0] > spec.max_output and not flooded:
                flooded.append(name)
                signal_group(child.pid, signal.SIGKILL)
            tail += chunk
            del tail[:-_TAIL]

    chores = [
        asyncio.ensure_future(read(child.process.stdout, "stdout")),
        asyncio.ensure_future(read(child.process.stderr, "stderr")),
        asyncio.ensure_future(feed_stdin(child, stdin)),
    ]
    timed_out = False
    try:
        done, _ = await asyncio.wait((child.exited,), timeout=spec.timeout)
        if not done:
            timed_out = True
            await stop_group(child, spec.grace)
        code = await child.wait()
        signal_group(child.pid, signal.SIGKILL)  # it is done: so is what it left running
        await asyncio.wait(chores[:2], timeout=1.0)  # unless a grandchild holds the pipes
    except asyncio.CancelledError:  # the attempt is over, or the orchestrator stops
        await stop_group(child, 0)
        raise
    finally:
        for chore in chores:
            chore.cancel()
        await asyncio.gather(*chores, return_exceptions=True)
        child.close()
    took = time.monotonic() - started
    output = _tail(tails["stderr"]) or _tail(tails["stdout"])
    if timed_out:
        error = f"timed out after {spec.timeout:g} s; its process group was stopped"
    elif flooded:
        error = (
            f"wrote more than max_output ({spec.max_output} bytes); its process group was killed"
        )
    elif code != 0:
        error = describe_exit(code)
    else:
        return Run(True, None, code, output, took)
    return Run(False, error, code, output, took)


async def run_with_retries(spec: Spec, stdin: bytes, retries: int) -> Run:
    """Run, and again up to ``retries`` times while it fails and may succeed next time,
    waiting 0.5 s, then 1 s, 2 s, ... (at most 10 s) in between."""
    tries = 0
    while True:
        tries += 1
        result = await run(spec, stdin)
        if result.ok or result.permanent or tries > retries:
            return attrs.evolve(result, tries=tries)
        await asyncio.sleep(min(10.0, 0.5 * 2 ** (tries - 1)))


def _tail(data: bytearray) -> str:
    text = data.decode(errors="replace").strip()
    lines = text.splitlines()[-3:]
    return " | ".join(lines)[-500:]


def base_environment(allow: Sequence[str]) -> dict[str, str]:
    """The allowed variables of the orchestrator's own environment."""
    return {name: os.environ[name] for name in allow if name in os.environ}
