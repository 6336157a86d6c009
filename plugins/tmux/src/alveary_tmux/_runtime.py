"""The ``tmux`` runtime: each agent is a program in its own tmux session on the plugin's
server, speaking the agent protocol over two FIFOs; its pane output goes to its log.

tmux hooks report deaths at once: ``pane-died`` (the program exited; the pane stays, with
its last screen, until the agent is removed) and ``session-closed`` (someone killed the
session) each write a line to an events FIFO the runtime reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import alveary
import structlog
from alveary_subprocess import Connection, Live, Supervisor, read_into
from alveary_subprocess import workspace as ws
from alveary_subprocess.options import parse
from alveary_subprocess.process import build_env, describe_exit, signal_group

from ._config import Config, TmuxOptions
from .server import OWNER, SERVER_ENV, Fifo, TmuxServer, owner_id, session_name

log = structlog.get_logger("alveary.tmux")


class _Session:
    """What the runtime keeps per session besides the shared ``Live`` record."""

    def __init__(self, live: Live, name: str, folder: Path) -> None:
        self.live = live
        self.name = name
        self.folder = folder
        self.fifos: list[Fifo] = []
        self.pid: int | None = None
        self.ending = False
        self.created = 0.0
        """When tmux created the session (``time.monotonic()``)."""
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class TmuxRuntime(Supervisor):
    """Runs each agent's ``options.command`` in a tmux session named after the agent."""

    def __init__(self, config: Config) -> None:
        super().__init__(config, Path(config.log_dir).expanduser().resolve())
        self.server = TmuxServer(config.tmux, config.socket)
        self.sessions: dict[str, _Session] = {}
        self._by_agent: dict[str, _Session] = {}
        self._run_dir: Path | None = None
        self._events: Fifo | None = None
        self._chores: list[asyncio.Future[Any]] = []
        self._reports: set[asyncio.Future[Any]] = set()
        self._snapshot: tuple[float, dict[str, tuple[str, str, str]] | None] = (0.0, None)
        """When the poll last listed every pane, and what it found."""
        self._ready: asyncio.Lock | None = None

    def validate(self, spec: alveary.AgentSpec) -> None:
        """Check ``spec.options`` (``alveary check`` reports it against the config line)."""
        parse(spec.options, TmuxOptions)

    # -- the server ---------------------------------------------------------------------------

    async def _prepare(self) -> Path:
        """Once: claim the socket, make the run directory, listen for tmux's hooks."""
        if self._ready is None:
            self._ready = asyncio.Lock()
        async with self._ready:
            if self._run_dir is not None:
                return self._run_dir
            if shutil.which(self.config.tmux) is None:
                raise RuntimeError(f"{self.config.tmux!r} is not installed (tmux 3.0+ needed)")
            note = await self.server.claim()
            if note:
                log.warning(note)
            run_dir = _make_run_dir(self.config.run_dir)
            self._events = Fifo(Fifo.make(run_dir / "events"))
            reader = await self._events.open_reader()
            # One server, started here: agents starting together must not race to start it.
            await self.server.run("start-server", ";", *self._hooks())
            self._chores = [
                asyncio.ensure_future(self._listen(reader)),
                asyncio.ensure_future(self._poll()),
            ]
            self._run_dir = run_dir
            return run_dir

    def _hooks(self) -> list[str]:
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

    def _judge(self, session: _Session, state: tuple[str, str, str] | None) -> None:
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

    def _gone(self, session: _Session, how: str) -> None:
        """The session's program ended (``how``): read its last screen, then wake ``stop``
        or report the loss."""
        if session.ending or session.gone.done():
            return
        session.ending = True
        task = asyncio.ensure_future(self._report(session, how))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _report(self, session: _Session, how: str) -> None:
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
        self.lost(live, reason)

    # -- agents -------------------------------------------------------------------------------

    async def start(self, agent: alveary.Agent) -> None:
        options = parse(agent.spec.options, TmuxOptions)
        run_dir = await self._prepare()
        name = session_name(agent.name)
        if name in self.sessions:
            raise RuntimeError(f"tmux session {name!r} is already in use")
        folder = run_dir / name
        session: _Session | None = None
        try:
            shutil.rmtree(folder, ignore_errors=True)  # left by an earlier run
            folder.mkdir()
            paths = {n: Fifo.make(folder / n) for n in ("in", "out", "pane")}
            extra = {}
            if options.transport == "fifo":
                extra = {"ALVEARY_IN": str(paths["in"]), "ALVEARY_OUT": str(paths["out"])}
            env = build_env(options, agent, extra, heartbeat=self.heartbeat_interval())
            place = await ws.prepare(options, agent.name)
            live = Live(agent, options, place, env, self.open_log(agent, options))
            session = _Session(live, name, folder)
            self.sessions[name] = session
            self._by_agent[agent.id] = session
            live.log.note(f"starting in tmux session {name} ({options.transport})")
            to_agent, from_agent, pane = (
                Fifo(paths["in"]),
                Fifo(paths["out"]),
                Fifo(paths["pane"]),
            )
            session.fifos += [to_agent, from_agent, pane]
            writer = await to_agent.open_writer()
            conn = self.connect(live, writer.write)
            lines = await from_agent.open_reader()
            screen = await pane.open_reader()
            live.chores += [
                asyncio.ensure_future(self._read(session, conn, lines, from_agent)),
                asyncio.ensure_future(_pump(screen, live)),
            ]
            pane_fifo = shlex.quote(str(paths["pane"]))
            script = folder / "start.sh"
            script.write_text(_start_script(live, paths), encoding="utf-8")
            script.chmod(0o700)
            async with self.starting():
                live.began = time.perf_counter()
                out = await self.server.run(
                    "new-session", "-d", "-s", name,
                    "-x", str(self.config.width), "-y", str(self.config.height),
                    f"exec /bin/sh {shlex.quote(str(script))}", ";",
                    "set-window-option", "-t", f"={name}:", "remain-on-exit", "on", ";",
                    "pipe-pane", "-t", f"={name}:", "-o", f"exec cat > {pane_fifo}", ";",
                    *self._hooks(), ";",
                    "display-message", "-p", "-t", f"={name}:", "#{pane_pid}",
                )  # fmt: skip
                session.pid = int((out or "").strip().splitlines()[-1])
                session.created = time.monotonic()
                await self.await_hello(live, session.gone)
        except BaseException:
            if session is not None:
                await self._cleanup(session)
            else:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    async def _read(
        self, session: _Session, conn: Connection, lines: asyncio.StreamReader, fifo: Fifo
    ) -> None:
        """Feed the connection what the agent writes. Once its hello came (so it opened its
        end), the runtime lets go of the FIFO's spare writer: the end of the agent's output
        is then seen, and an agent that closed it but runs on is killed."""
        conn.hello.add_done_callback(lambda _: fifo.release())
        await read_into(lines, conn)
        if not session.ending:
            await self._refresh(session)  # an ended program: tmux says how
        await self.closed_output(session.live, session.gone)

    async def execute(self, agent: alveary.Agent, task: alveary.Task) -> Any:
        session = self._by_agent[agent.id]
        live = session.live
        assert live.conn is not None
        return await self.run_task(live, task, live.conn.run(task))

    async def stop(self, agent: alveary.Agent) -> None:
        session = self._by_agent.get(agent.id)
        if session is None:
            return
        live = session.live
        live.stopping = True
        if not session.gone.done() and live.conn is not None:
            live.conn.shutdown()
            await self._wait_gone(session, live.options.grace)
        if not session.gone.done() and session.pid is not None:
            signal_group(session.pid, signal.SIGTERM)
            await self._wait_gone(session, live.options.grace)
        live.log.note("stopped")
        await self._cleanup(session)

    async def _cleanup(self, session: _Session, *, server: bool = True) -> None:
        live = session.live
        self.sessions.pop(session.name, None)
        self._by_agent.pop(live.agent.id, None)
        live.stopping = True
        if session.pid is not None:
            signal_group(session.pid, signal.SIGKILL)
        if server:
            await self.server.run("kill-session", "-t", f"={session.name}", check=False)
        for chore in live.chores:
            chore.cancel()
        await asyncio.gather(*live.chores, return_exceptions=True)
        for fifo in session.fifos:
            fifo.close()
        if live.conn is not None:
            live.conn.close(live.ended or "the agent stopped")
        shutil.rmtree(session.folder, ignore_errors=True)
        note = await ws.release(live.workspace)
        if note:
            live.log.note(note)
        live.log.close()

    def kill(self, live: Live) -> None:
        session = self._by_agent.get(live.agent.id)
        if session is not None and session.pid is not None:
            signal_group(session.pid, signal.SIGKILL)

    def pid(self, agent: alveary.Agent) -> int | None:
        """The pid of the program in the agent's pane while it runs."""
        session = self._by_agent.get(agent.id)
        if session is None or session.gone.done():
            return None
        return session.pid

    def session(self, agent: alveary.Agent) -> str | None:
        """The name of the agent's tmux session."""
        session = self._by_agent.get(agent.id)
        return session.name if session is not None else None

    async def check(self, agent: alveary.Agent) -> alveary.HealthReport | None:
        """FAILED if the session is gone (killed from outside) or its program exited, else
        abstain. Answers from the poll's listing of every pane when it is recent (so checking
        many agents costs no tmux call each), else asks tmux."""
        session = self._by_agent.get(agent.id)
        if session is None:
            return None
        if not session.ending:
            taken, panes = self._snapshot
            fresh = time.monotonic() - taken <= 2 * self.config.poll_interval
            if panes is not None and fresh and taken > session.created:
                self._judge(session, panes.get(session.name))
            else:
                await self._refresh(session)
        if session.ending:
            await asyncio.shield(session.gone)  # its report is being written: one tmux call
        if session.live.ended is not None:
            return alveary.HealthReport(alveary.HealthStatus.FAILED, session.live.ended)
        return None

    async def _refresh(self, session: _Session) -> None:
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

    async def _wait_gone(self, session: _Session, timeout: float) -> None:
        """Wait up to ``timeout`` for the session's program to end, asking tmux meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not session.gone.done() and loop.time() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(session.gone), 0.1)
            if not session.gone.done():
                await self._refresh(session)

    async def close(self) -> None:
        """At shutdown: stop the server (one tmux call, whatever is left: normally nothing,
        the kernel stopped every agent), release what is left, stop listening to the hooks,
        and remove the run directory if it was a temporary one. Quick, within a hook's
        budget."""
        if self._run_dir is not None:
            await self.server.stop()  # ours alone: claimed at start
        for session in list(self.sessions.values()):
            await self._cleanup(session, server=False)
        chores = [*self._chores, *self._reports]
        for chore in chores:
            chore.cancel()
        await asyncio.gather(*chores, return_exceptions=True)
        self._chores = []
        if self._events is not None:
            self._events.close()
        if self._run_dir is not None and not self.config.run_dir:
            shutil.rmtree(self._run_dir, ignore_errors=True)
        self._run_dir = None


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


def _start_script(live: Live, paths: dict[str, Path]) -> str:
    """The pane's shell script: the agent's exact environment, its directory, its program.
    It deletes itself first thing, so secrets do not stay on disk."""
    options = live.options
    assert isinstance(options, TmuxOptions)
    lines = ["# written by alveary for one start of one agent", 'rm -f "$0"']
    hidden = [name for name in SERVER_ENV if name not in live.env]
    if hidden:
        lines.append(f"unset {' '.join(hidden)}")
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(live.env.items())]
    if live.workspace.path is not None:
        lines.append(f"cd {shlex.quote(str(live.workspace.path))} || exit 126")
    command = " ".join(shlex.quote(word) for word in options.argv())
    if options.transport == "stdio":
        command += f" <{shlex.quote(str(paths['in']))} >{shlex.quote(str(paths['out']))}"
    lines.append(f"exec {command}")
    return "\n".join(lines) + "\n"


async def _pump(stream: asyncio.StreamReader, live: Live) -> None:
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return
        live.log.write(chunk)
