"""The plugin's own tmux server: running tmux commands on its socket, and FIFOs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
from pathlib import Path

import alveary
from alveary_subprocess import run_command

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

SERVER_ENV = ("PATH", "HOME", "TMUX_TMPDIR", "LANG", "LC_ALL", "LC_CTYPE")
"""What the tmux server's environment holds (the start script of each session unsets what
its agent may not see)."""

OWNER = "@alveary-owner"
"""A global user option naming the orchestrator (``pid@host``) that owns the server."""


class TmuxError(alveary.AlvearyError):
    """A tmux command failed."""


def session_name(agent: str) -> str:
    """The session of an agent: its name, with characters tmux does not allow replaced."""
    return _UNSAFE.sub("_", agent)


def socket_args(socket_: str) -> list[str]:
    """``-L name`` or ``-S path``."""
    return ["-S", socket_] if "/" in socket_ else ["-L", socket_]


def owner_id() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


class TmuxServer:
    """Runs tmux commands against one socket, with a minimal environment (the server
    inherits it from the command that starts it)."""

    def __init__(self, program: str, socket_: str) -> None:
        self.program = program
        self.socket = socket_
        self.env = {k: os.environ[k] for k in SERVER_ENV if k in os.environ}

    def argv(self, *args: str) -> list[str]:
        return [self.program, *socket_args(self.socket), "-f", "/dev/null", *args]

    def attach_argv(self, session: str, *, read_only: bool = False) -> list[str]:
        flags = ["-r"] if read_only else []
        return [
            self.program,
            *socket_args(self.socket),
            "attach-session",
            *flags,
            "-t",
            f"={session}",
        ]

    async def run(self, *args: str, check: bool = True) -> str | None:
        """Run one tmux command line (``";"`` separates chained commands); its standard
        output, or None if it failed and ``check`` is false. Cancelled, the client is killed
        (``run_command``)."""
        status, out, err = await run_command(self.argv(*args), self.env)
        if status != 0:
            if not check:
                return None
            message = err.decode(errors="replace").strip() or f"exit {status}"
            raise TmuxError(f"tmux {args[0]} failed: {message}")
        return out.decode(errors="replace")

    async def stop(self) -> None:
        """Kill the server and remove its socket file (tmux leaves it behind)."""
        path = await self.run("display-message", "-p", "#{socket_path}", check=False)
        await self.run("kill-server", check=False)
        if path and path.strip():
            with contextlib.suppress(OSError):
                os.unlink(path.strip())

    async def claim(self) -> str | None:
        """Make sure no other live orchestrator owns the socket; kill a server a crashed
        one left behind. Returns a note about what was found, or None."""
        owner = await self.run("show-options", "-gqv", OWNER, check=False)
        if owner is None:  # no server running
            return None
        owner = owner.strip()
        pid, _, host = owner.partition("@")
        if owner == owner_id():
            return None
        if owner and host == socket.gethostname() and pid.isdigit() and _alive(int(pid)):
            raise TmuxError(
                f"tmux socket {self.socket!r} is used by another orchestrator (pid {pid}); "
                "give this one its own ([plugins.tmux] socket)"
            )
        if not owner:
            raise TmuxError(
                f"tmux socket {self.socket!r} has a server that alveary did not start; "
                "choose another ([plugins.tmux] socket)"
            )
        await self.stop()
        for _ in range(100):  # the old server takes a moment to go
            if await self.run("show-options", "-gqv", OWNER, check=False) is None:
                break
            await asyncio.sleep(0.02)
        return f"killed the sessions left on socket {self.socket!r} by a stopped orchestrator"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Fifo:
    """One end of a FIFO, opened without blocking and kept from seeing end-of-file or a
    broken pipe by a second descriptor on the other side: a peer that closes and reopens it
    (or has not opened it yet) is not an error."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.transport: asyncio.BaseTransport | None = None
        self._keeper: int | None = None

    @staticmethod
    def make(path: Path) -> Path:
        os.mkfifo(path, 0o600)
        return path

    async def open_reader(self) -> asyncio.StreamReader:
        loop = asyncio.get_running_loop()
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._keeper = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        reader = asyncio.StreamReader(limit=2**16)
        self.transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        return reader

    async def open_writer(self) -> asyncio.WriteTransport:
        loop = asyncio.get_running_loop()
        self._keeper = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        transport, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(fd, "wb", buffering=0)
        )
        self.transport = transport
        return transport

    def release(self) -> None:
        """Close the spare descriptor: from now on the peer closing its end is seen."""
        if self._keeper is not None:
            os.close(self._keeper)
            self._keeper = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self.release()
