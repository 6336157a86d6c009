"""The audit log: append-only JSON lines, each carrying the SHA-256 of the entry before it.

Recording is an append to an in-memory buffer (the hot path never touches the disk); a
thread writes the buffer out, computing the chain as it goes. An edited entry no longer
matches its own ``hash``; a removed or reordered one breaks the ``seq`` run and the ``prev``
link of the entry after it. Only the last entries cannot be checked against anything after
them: keep the head hash that ``alveary audit verify`` prints somewhere else to cover them.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CATEGORIES = (
    "authentication",
    "authorization",
    "data_access",
    "modification",
    "administration",
    "privilege_escalation",
)
GENESIS = "0" * 64
"""``prev`` of the first entry."""


class AuditLog:
    """The buffer and the writer of one audit file, continuing the chain already in it."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._buffer: collections.deque[tuple[float, str, str, dict[str, Any]]]
        self._buffer = collections.deque()
        self._lock = threading.Lock()
        self._seq, self._prev = _head(self.path)

    def record(self, category: str, event: str, **fields: Any) -> None:
        """Buffer one entry. Cheap and non-blocking: call it anywhere."""
        self._buffer.append((time.time(), category, event, fields))

    def flush(self) -> int:
        """Write what is buffered (blocking: run it in a thread); how many entries."""
        with self._lock:
            lines = []
            while self._buffer:
                when, category, event, fields = self._buffer.popleft()
                entry = {
                    **fields,
                    "seq": self._seq,
                    "time": round(when, 6),
                    "category": category,
                    "event": event,
                    "prev": self._prev,
                }
                body = _dumps(entry)  # serialised once: hashed, then written with its hash
                self._prev = hashlib.sha256(body.encode()).hexdigest()
                self._seq += 1
                lines.append(f'{body[:-1]},"hash":"{self._prev}"}}\n')
            if lines:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab") as out:
                    out.write("".join(lines).encode())  # one write: whole lines appear at once
                    out.flush()
                    os.fsync(out.fileno())
            return len(lines)


def entry_hash(entry: dict[str, Any]) -> str:
    """The SHA-256 of an entry without its own ``hash``, in canonical JSON."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(_dumps(body).encode()).hexdigest()


def verify(path: Path) -> tuple[int, str]:
    """``(entries, "")`` when the chain holds, else ``(line, problem)`` naming the first
    entry that was altered, removed or reordered."""
    seen = [(n, entry) for n, entry in _entries(path)]
    seqs = {entry.get("seq") for _, entry in seen if isinstance(entry, dict)}
    expected, prev = 0, GENESIS
    for line, entry in seen:
        if not isinstance(entry, dict) or entry.get("hash") != entry_hash(entry):
            return line, f"line {line}: entry {expected} was altered"
        seq = entry["seq"]
        if seq != expected:
            if seq < expected or expected in seqs:
                return line, f"line {line}: entry {seq} is out of order (reordered)"
            return line, f"line {line}: entry {expected} was removed (found entry {seq})"
        if entry["prev"] != prev:
            return line, f"line {line}: entry {seq} does not follow the entry before it"
        expected, prev = seq + 1, entry["hash"]
    return len(seen), ""


def _entries(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, 1):
            try:
                yield number, json.loads(text)
            except ValueError:
                yield number, None


def _head(path: Path) -> tuple[int, str]:
    """The next ``seq`` and the last hash of an existing log, to continue its chain."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 65536))
            last = log.read().splitlines()[-1]
    except (FileNotFoundError, IndexError):
        return 0, GENESIS
    entry = json.loads(last)
    return int(entry["seq"]) + 1, str(entry["hash"])


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
