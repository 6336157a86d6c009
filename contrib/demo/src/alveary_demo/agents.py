"""The demo's agents: handlers that hash, compress and analyse files.

Pools name them in their options as ``alveary_demo.agents:<function>``, as an operator names
their own. Faults are injected on purpose, so that retries and timeouts show: whether an attempt
fails is decided by hashing the task id and the attempt number, so the same attempt of the same
task always gets the same verdict, and about the stated fraction of attempts gets each fault.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import lzma
import re
import zlib
from pathlib import Path
from typing import Any

from alveary import PermanentFailure, Task

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
"""What counts as a token: identifier-like words of three characters or more."""

TOP = 20
"""Most common tokens an analyser reports per file."""


class InjectedFault(Exception):
    """A failure the demo injects on purpose; the kernel retries it like any other."""


def roll(task: Task, salt: str) -> float:
    """A number in ``[0, 1)`` fixed by the task id, the attempt number and ``salt``."""
    digest = hashlib.sha256(f"{salt}:{task.id}:{task.attempts}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _rate(task: Task, key: str) -> float:
    return float(task.payload.get(key, 0.0))


def sha256(task: Task) -> dict[str, Any]:
    """Hash a file. Synchronous: the local runtime runs it in a worker thread."""
    path = task.payload["path"]
    data = Path(path).read_bytes()
    return {"path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def compress(task: Task) -> dict[str, Any]:
    """Compress a file with zlib and lzma and report both sizes. Synchronous (a worker
    thread); fails the ``payload["fail"]`` fraction of its attempts."""
    path = task.payload["path"]
    if roll(task, "fail") < _rate(task, "fail"):
        raise InjectedFault(f"injected fault on attempt {task.attempts}")
    data = Path(path).read_bytes()
    return {
        "path": path,
        "bytes": len(data),
        "zlib": len(zlib.compress(data, 9)),
        "lzma": len(lzma.compress(data)),
    }


async def analyse(task: Task) -> dict[str, Any]:
    """Count the lines, words and most common tokens of a text file. Asynchronous: it runs on
    the event loop and reads the file in a thread. On the ``payload["stall"]`` fraction of its
    attempts it gets stuck, as an agent waiting on an answer that never comes, until the
    task's timeout cancels it. A file that is not UTF-8 text fails at once, without retries."""
    if roll(task, "stall") < _rate(task, "stall"):
        await asyncio.get_running_loop().create_future()  # never resolved: a stuck agent
    path = task.payload["path"]
    data = await asyncio.to_thread(Path(path).read_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PermanentFailure(f"{path} is not UTF-8 text") from None
    tokens = collections.Counter(TOKEN.findall(text))
    return {
        "path": path,
        "bytes": len(data),
        "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0),
        "words": len(text.split()),
        "top": tokens.most_common(TOP),
    }
