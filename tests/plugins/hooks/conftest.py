"""Fixtures for the hooks plugin's tests: real commands, a real HTTP receiver on loopback.

Helpers are fixtures because test modules cannot import this file under
``--import-mode=importlib``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

RECORD = """
import json, os, sys
record = {"argv": sys.argv[1:], "stdin": sys.stdin.read(), "cwd": os.getcwd(),
          "env": {k: v for k, v in os.environ.items() if k.startswith(("ALVEARY_", "HOOK_"))}}
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(record) + "\\n")
"""


@pytest.fixture
def script(tmp_path: Path) -> Callable[[str], list[str]]:
    """``script(body)``: a Python program in a file; returns the argv that runs it."""
    made = iter(range(1000))

    def make(body: str) -> list[str]:
        path = tmp_path / f"hook_{next(made)}.py"
        path.write_text(textwrap.dedent(body))
        return [sys.executable, str(path)]

    return make


@pytest.fixture
def recorder_cmd(script: Callable[[str], list[str]], tmp_path: Path) -> tuple[list[str], Path]:
    """A command that appends what it got (argv, stdin, cwd, ``ALVEARY_*`` variables) as a
    JSON line to a file, and that file."""
    out = tmp_path / "runs.jsonl"
    return [*script(RECORD), str(out)], out


def read_runs(path: Path) -> list[dict[str, Any]]:
    """The lines the commands appended; one still being written (no newline yet) is not."""
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


@pytest.fixture
def runs() -> Callable[[Path], list[dict[str, Any]]]:
    return read_runs


class Receiver:
    """An HTTP/1.1 server on 127.0.0.1 that records each POST, checks its signature, and
    answers as the test says: ``fail_first`` 500s, then ``mode`` (``ok``, ``fail`` for 500
    forever, ``hang`` for no answer at all)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret
        self.fail_first = 0
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[Any] = []
        self.bad_signatures = 0
        self.release: asyncio.Event | None = None
        """When set to an event, answers wait for it."""
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def close(self) -> None:
        """Go away: stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append({"headers": headers, "body": body})
                if self.secret is not None:
                    good = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
                    if not hmac.compare_digest(headers.get("x-alveary-signature", ""), good):
                        self.bad_signatures += 1
                        await self._answer(writer, 401)
                        continue
                if self.release is not None:
                    await self.release.wait()
                if self.mode == "hang":
                    await asyncio.sleep(3600)
                if self.fail_first > 0 or self.mode == "fail":
                    self.fail_first -= 1
                    await self._answer(writer, 500)
                    continue
                self.accepted.append(json.loads(body))
                await self._answer(writer, 204)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int) -> None:
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()

    def events(self) -> list[dict[str, Any]]:
        """Every event accepted, batches unpacked."""
        found: list[dict[str, Any]] = []
        for body in self.accepted:
            found.extend(body if isinstance(body, list) else [body])
        return found


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver(b"s3cret")
    await server.start()
    yield server
    await server.close()
