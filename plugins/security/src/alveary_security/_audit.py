"""The audit log: append-only JSON lines, each carrying the SHA-256 of the entry before it.

Recording is an append to an in-memory buffer (the hot path never touches the disk); a
thread writes the buffer out, computing the chain as it goes. An edited entry no longer
matches its own ``hash``; a removed or reordered one breaks the ``seq`` run and the ``prev``
link of the entry after it. Only the last entries cannot be checked against anything after
them: keep the head hash that ``alveary audit verify`` prints somewhere else to cover them.

A process killed while it wrote leaves a last line cut short. The next run cuts it off and
continues the chain from the last whole entry, with a first entry (``audit.torn``) that keeps
what was cut; ``verify`` names such a line as incomplete, not as altered.
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
        torn = _cut_torn_tail(self.path)
        self._seq, self._prev = _head(self.path)
        if torn:
            text = torn.decode("utf-8", "replace")
            self.record("administration", "audit.torn", bytes=len(torn), text=text[:4096])

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
        if entry is _TORN:
            return line, (
                f"line {line}: the last entry is incomplete (cut short while it was written: "
                f"a crash, or the log is being written now); the {line - 1} before it hold"
            )
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


_TORN: Any = object()
"""What ``_entries`` yields for a last line without its newline that is no JSON."""


def _entries(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, text in enumerate(lines, 1):
            try:
                yield number, json.loads(text)
            except ValueError:
                yield number, (None if text.endswith("\n") else _TORN)


def _cut_torn_tail(path: Path) -> bytes:
    """Cut a last line that has no newline (a write cut short) off the file; what was cut."""
    try:
        with path.open("r+b") as log:
            end = log.seek(0, os.SEEK_END)
            if end == 0:
                return b""
            log.seek(end - 1)
            if log.read(1) == b"\n":
                return b""
            start = end
            while start > 0:  # back to the newline before the torn line, a block at a time
                block = min(65536, start)
                log.seek(start - block)
                found = log.read(block).rfind(b"\n")
                if found >= 0:
                    start = start - block + found + 1
                    break
                start -= block
            log.seek(start)
            torn = log.read()
            log.truncate(start)
            return torn
    except FileNotFoundError:
        return b""


def _head(path: Path) -> tuple[int, str]:
    """The next ``seq`` and the last hash of an existing log, to continue its chain; a
    ``ValueError`` naming the file when its last line is no entry."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 65536))
            last = log.read().splitlines()[-1]
    except (FileNotFoundError, IndexError):
        return 0, GENESIS
    try:
        entry = json.loads(last)
        return int(entry["seq"]) + 1, str(entry["hash"])
    except (ValueError, TypeError, KeyError):
        raise ValueError(
            f"{path}: its last line is not an audit entry, so the chain cannot go on from it "
            "(check it with 'alveary audit verify', or start a new file)"
        ) from None


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
