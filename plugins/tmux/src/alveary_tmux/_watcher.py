"""The runtime's tmux server: set up once, and watched for the end of each session.

tmux hooks report deaths at once: ``pane-died`` (the program exited; the pane stays, with
its last screen, until the agent is removed) and ``session-closed`` (someone killed the
session) each write a line to an events FIFO the watcher reads. A poll of every pane catches
what they miss.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from alveary_subprocess import Live
from alveary_subprocess.process import describe_exit

from ._config import Config
from ._session import Session
from .server import OWNER, Fifo, TmuxServer, owner_id

log = structlog.get_logger("alveary.tmux")


class Watcher:
    """Claims the plugin's tmux server and installs its hooks (once, at the first start),
    then notes the end of each session it watches and reports it through ``lost``."""

    def __init__(
        self, config: Config, server: TmuxServer, lost: Callable[[Live, str], None]
    ) -> None:
        self.config = config
        self.server = server
        self._lost = lost
        self.sessions: dict[str, Session] = {}
        """The sessions watched, by name (the runtime adds and removes them)."""
        self.run_dir: Path | None = None
        """Where the events FIFO and each session's folder are, once the server is set up."""
        self._events: Fifo | None = None
        self._chores: list[asyncio.Future[Any]] = []
        self._reports: set[asyncio.Future[Any]] = set()
        self._snapshot: tuple[float, dict[str, tuple[str, str, str]] | None] = (0.0, None)
        """When the poll last listed every pane, and what it found."""
        self._ready: asyncio.Lock | None = None

    async def prepare(self) -> Path:
        """Once: claim the socket, make the run directory, listen for tmux's hooks."""
        if self._ready is None:
            self._ready = asyncio.Lock()
        async with self._ready:
            if self.run_dir is not None:
                return self.run_dir
            if shutil.which(self.config.tmux) is None:
                raise RuntimeError(f"{self.config.tmux!r} is not installed (tmux 3.0+ needed)")
            note = await self.server.claim()
            if note:
                log.warning(note)
            run_dir = _make_run_dir(self.config.run_dir)
            self._events = Fifo(Fifo.make(run_dir / "events"))
            reader = await self._events.open_reader()
            # One server, started here: agents starting together must not race to start it.
            await self.server.run("start-server", ";", *self.hooks())
            self._chores = [
                asyncio.ensure_future(self._listen(reader)),
                asyncio.ensure_future(self._poll()),
            ]
            self.run_dir = run_dir
            return run_dir

    def hooks(self) -> list[str]:
        """Commands that (re)install the hooks and the owner mark on the server."""
        assert self._events is not None
        events = self._events.path
        died = (
            f'run-shell -b "echo died:#{{q:session_name}}:#{{pane_dead_status}}:'
            f'#{{pane_dead_signal}} 1<>{events}"'
        )
        closed = f'run-shell -b "echo closed:#{{q:hook_session_name}} 1<>{events}"'
        return [
            "set-option", "-g", OWNER, owner_id(), ";",
            # Keep the server when its last session is killed, so the hook still reports it.
            "set-option", "-g", "exit-empty", "off", ";",
            "set-hook", "-g", "pane-died", died, ";",
            "set-hook", "-g", "session-closed", closed,
        ]  # fmt: skip

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        """Act on each line the hooks write (tmux's own, short)."""
        while line := await reader.readline():
            self._event(line)

    def _event(self, line: bytes) -> None:
        kind, _, rest = line.decode(errors="replace").strip().partition(":")
        if kind == "died":
            name, status, sig = [*rest.rsplit(":", 2), "", ""][:3]
            session = self.sessions.get(name)
            if session is not None:
                self._gone(session, _exit(status, sig))
        elif kind == "closed":
            session = self.sessions.get(rest)
            if session is not None:
                self._gone(session, f"the tmux session {rest} was closed from outside")

    async def _poll(self) -> None:
        """Every ``poll_interval``: ask tmux about every pane. The hooks report at once, but
        tmux (3.3) sometimes misses a child's exit; a dead pane tells the truth anyway."""
        while True:
            await asyncio.sleep(self.config.poll_interval)
            watched = [s for s in self.sessions.values() if s.pid is not None and not s.gone.done()]
            if not watched:
                continue
            taken = time.monotonic()
            panes = await self._panes()
            if panes is not None and any(panes.get(s.name) == ("1", "", "") for s in watched):
                await self._nudge()  # make tmux reap the exited program, for its status
                panes = await self._panes()
            self._snapshot = (taken, panes)
            for session in watched:
                self._judge(session, None if panes is None else panes.get(session.name))

    def _judge(self, session: Session, state: tuple[str, str, str] | None) -> None:
        """Note the session's end if tmux's view of it (``(dead, status, signal)``, None when
        the session is missing) says it ended."""
        if state is None:
            self._gone(session, f"the tmux session {session.name} is gone")
        elif state[0] == "1":
            self._gone(session, _exit(state[1], state[2]))

    async def _panes(self) -> dict[str, tuple[str, str, str]] | None:
        out = await self.server.run(
            "list-panes", "-a", "-F",
            "#{session_name}:#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}",
            check=False,
        )  # fmt: skip
        if out is None:
            return None
        panes = {}
        for line in out.splitlines():
            name, dead, status, sig = [*line.rsplit(":", 3), "", "", ""][:4]
            panes[name] = (dead, status, sig)
        return panes

    async def _nudge(self) -> None:
        out = await self.server.run("display-message", "-p", "#{pid}", check=False)
        if out and out.strip().isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(out.strip()), signal.SIGCHLD)
            await asyncio.sleep(0.05)

    def _gone(self, session: Session, how: str) -> None:
        """The session's program ended (``how``): read its last screen, then wake ``stop``
        or report the loss."""
        if session.ending or session.gone.done():
            return
        session.ending = True
        task = asyncio.ensure_future(self._report(session, how))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _report(self, session: Session, how: str) -> None:
        live = session.live
        # The pane (kept by remain-on-exit) holds what the program printed last, even when
        # the copy to the log has not arrived yet: tmux reads all of a program's output before
        # it reports the pane dead. Its history too (-S -): the "Pane is dead" line tmux
        # writes at the bottom scrolls the screen, and a program that printed one line and
        # exited has that line in the history, not on the screen.
        screen = await self.server.run(
            "capture-pane", "-p", "-J", "-S", "-", "-t", f"={session.name}:", check=False
        )
        lines = [
            line.strip()
            for line in (screen or "").splitlines()
            if line.strip() and not line.startswith("Pane is dead")
        ]
        live.output = " | ".join(lines[-3:])
        live.exit = how
        if not session.gone.done():
            session.gone.set_result(None)
        if live.cause is not None:
            reason = f"{live.cause}; the agent was killed"
        else:
            tail = live.output or live.log.tail()
            reason = f"{how} (last output: {tail[-300:]})" if tail else how
        self._lost(live, reason)

    async def look(self, session: Session) -> None:
        """Note the session's end if it ended, and wait for its report. Answers from the
        poll's listing of every pane when it is recent (so checking many agents costs no tmux
        call each), else asks tmux."""
        if not session.ending:
            taken, panes = self._snapshot
            fresh = time.monotonic() - taken <= 2 * self.config.poll_interval
            if panes is not None and fresh and taken > session.created:
                self._judge(session, panes.get(session.name))
            else:
                await self.refresh(session)
        if session.ending:
            await asyncio.shield(session.gone)  # its report is being written: one tmux call

    async def refresh(self, session: Session) -> None:
        """Ask tmux about one session; note its end if it ended."""
        out = await self.server.run(
            "list-panes", "-t", f"={session.name}:", "-F",
            "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}",
            check=False,
        )  # fmt: skip
        if out is None:
            self._judge(session, None)
        else:
            dead, status, sig = [*out.strip().split(":"), "", ""][:3]
            self._judge(session, (dead, status, sig))

    async def wait_gone(self, session: Session, timeout: float) -> None:
        """Wait up to ``timeout`` for the session's program to end, asking tmux meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not session.gone.done() and loop.time() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(session.gone), 0.1)
            if not session.gone.done():
                await self.refresh(session)

    async def close(self) -> None:
        """At shutdown, once the server is stopped: stop listening and polling, and remove
        the run directory if it was a temporary one."""
        chores = [*self._chores, *self._reports]
        for chore in chores:
            chore.cancel()
        await asyncio.gather(*chores, return_exceptions=True)
        self._chores = []
        if self._events is not None:
            self._events.close()
        if self.run_dir is not None and not self.config.run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir = None


def _make_run_dir(configured: str) -> Path:
    """The configured run directory (emptied of an earlier run's events FIFO), or a fresh
    private temporary one."""
    if not configured:
        return Path(tempfile.mkdtemp(prefix="alveary-tmux-"))
    run_dir = Path(configured).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (run_dir / "events").unlink()
    return run_dir


def _exit(status: str, sig: str) -> str:
    """How a pane's program ended, from tmux's ``pane_dead_status``/``pane_dead_signal``."""
    if sig.isdigit():
        return f"the process {describe_exit(-int(sig))}"
    if status.lstrip("-").isdigit():
        return f"the process {describe_exit(int(status))}"
    return "the process exited"
