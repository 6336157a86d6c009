"""An agent's log file: what its process printed, protocol ``log`` lines and the runtime's own
notes, with secrets masked and a size cap.

One file per agent, ``<log_dir>/<agent name>.log``. When it grows past ``max_bytes`` it is
renamed to ``<name>.log.1`` (replacing the previous one) and a new file starts, so an agent
that floods its output costs at most twice ``max_bytes`` of disk.
"""

from __future__ import annotations

import collections
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

MASK = b"***"

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def log_name(agent: str) -> str:
    """The file name for an agent's log (unsafe characters replaced)."""
    return _UNSAFE.sub("_", agent) + ".log"


class AgentLog:
    """Append-only, line-buffered, rotating, secret-masking log of one agent."""

    def __init__(
        self, path: Path, *, max_bytes: int = 10 * 2**20, secrets: Iterable[str] = ()
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._secrets = [s.encode() for s in secrets if len(s) >= 4]
        self._partial = b""
        self._tail: collections.deque[bytes] = collections.deque(maxlen=5)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = open(path, "ab")  # noqa: SIM115 - closed by close()
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        """Add raw output; complete lines are masked and written, a partial line waits (up to
        64 KiB) for its end."""
        data = self._partial + data.replace(b"\r\n", b"\n")
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > 65536:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            self._emit(line)

    def note(self, text: str) -> None:
        """A line from the runtime itself, timestamped and marked ``[alveary]``."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        self._emit(f"{stamp} [alveary] {text}".encode(errors="replace"), tail=False)

    def mask(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***``."""
        return self.mask_bytes(text.encode(errors="surrogateescape")).decode(
            errors="surrogateescape"
        )

    def mask_value(self, value: Any) -> Any:
        """A JSON value with secrets masked in every string (keys too)."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list):
            return [self.mask_value(item) for item in value]
        if isinstance(value, dict):
            return {self.mask(str(k)): self.mask_value(v) for k, v in value.items()}
        return value

    def mask_bytes(self, data: bytes) -> bytes:
        for secret in self._secrets:
            data = data.replace(secret, MASK)
        return data

    def tail(self) -> str:
        """The last few lines the process printed, for error messages."""
        return " | ".join(line.decode(errors="replace").strip() for line in self._tail)

    def close(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = b""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _emit(self, line: bytes, tail: bool = True) -> None:
        if self._file is None:
            return
        line = self.mask_bytes(line) + b"\n"
        if tail and line.strip():
            self._tail.append(line[-300:])
        if self._size + len(line) > self.max_bytes and self._size > 0:
            self._rotate()
        self._file.write(line)
        self._file.flush()
        self._size += len(line)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0
