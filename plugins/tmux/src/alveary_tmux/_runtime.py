"""The ``tmux`` runtime: each agent is a program in its own tmux session on the plugin's
server, speaking the agent protocol over two FIFOs; its pane output goes to its log."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import alveary
from alveary_subprocess import (
    Connection,
    Live,
    Supervisor,
    process_record,
    read_into,
    stop_recorded,
)
from alveary_subprocess.options import parse
from alveary_subprocess.orphans import Entry
from alveary_subprocess.process import signal_group

from ._config import Config, TmuxOptions
from ._session import Session, start_script
from ._watcher import Watcher
from .server import OWNER, Fifo, TmuxServer, owner_id, session_name


class TmuxRuntime(Supervisor):
    """Runs each agent's ``options.command`` in a tmux session named after the agent."""

    name = "tmux"

    def __init__(self, config: Config) -> None:
        super().__init__(config, Path(config.log_dir).expanduser().resolve(), "tmux")
        self.server = TmuxServer(config.tmux, config.socket)
        self.watch = Watcher(config, self.server, self.lost)
        self._by_agent: dict[str, Session] = {}

    def validate(self, spec: alveary.AgentSpec) -> None:
        """Check ``spec.options`` (``alveary check`` reports it against the config line)."""
        parse(spec.options, TmuxOptions)

    async def start(self, agent: alveary.Agent) -> None:
        options = parse(agent.spec.options, TmuxOptions)
        await self.orphans.cleared()
        run_dir = await self.watch.prepare()
        name = session_name(agent.name)
        if name in self.watch.sessions:
            raise RuntimeError(f"tmux session {name!r} is already in use")
        folder = run_dir / name
        session: Session | None = None
        try:
            shutil.rmtree(folder, ignore_errors=True)  # left by an earlier run
            folder.mkdir()
            paths = {n: Fifo.make(folder / n) for n in ("in", "out", "pane")}
            extra = {}
            if options.transport == "fifo":
                extra = {"ALVEARY_IN": str(paths["in"]), "ALVEARY_OUT": str(paths["out"])}
            live = await self.prepare(agent, options, extra)
            session = Session(live, name, folder)
            self.watch.sessions[name] = session
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
            script.write_text(start_script(live, paths), encoding="utf-8")
            script.chmod(0o700)
            async with self.starting():
                live.began = time.perf_counter()
                out = await self.server.run(
                    "new-session", "-d", "-s", name,
                    "-x", str(self.config.width), "-y", str(self.config.height),
                    f"exec /bin/sh {shlex.quote(str(script))}", ";",
                    "set-window-option", "-t", f"={name}:", "remain-on-exit", "on", ";",
                    "pipe-pane", "-t", f"={name}:", "-o", f"exec cat > {pane_fifo}", ";",
                    *self.watch.hooks(), ";",
                    "display-message", "-p", "-t", f"={name}:", "#{pane_pid} #{socket_path}",
                )  # fmt: skip
                pid, _, socket = (out or "").strip().splitlines()[-1].partition(" ")
                session.pid = int(pid)
                record = process_record(session.pid)
                if record is not None:
                    record.update(socket=socket, session=name, owner=owner_id())
                self.orphans.add(agent.name, record)
                session.created = time.monotonic()
                await self.await_hello(live, session.gone)
        except BaseException:
            if session is not None:
                await self._cleanup(session)
            else:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    async def _read(
        self, session: Session, conn: Connection, lines: asyncio.StreamReader, fifo: Fifo
    ) -> None:
        """Feed the connection what the agent writes. Once its hello came (so it opened its
        end), the runtime lets go of the FIFO's spare writer: the end of the agent's output
        is then seen, and an agent that closed it but runs on is killed."""
        conn.hello.add_done_callback(lambda _: fifo.release())
        await read_into(lines, conn)
        if not session.ending:
            await self.watch.refresh(session)  # an ended program: tmux says how
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
            await self.watch.wait_gone(session, live.options.grace)
        if not session.gone.done() and session.pid is not None:
            signal_group(session.pid, signal.SIGTERM)
            await self.watch.wait_gone(session, live.options.grace)
        live.log.note("stopped")
        await self._cleanup(session)

    async def _cleanup(self, session: Session, *, server: bool = True) -> None:
        live = session.live
        self.watch.sessions.pop(session.name, None)
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
        shutil.rmtree(session.folder, ignore_errors=True)
        self.orphans.remove(live.agent.name)
        await self.release(live)

    async def stop_orphan(self, name: str, entry: Entry) -> dict[str, Any] | None:
        """Stop an agent a dead run left: its program's process group, if that is still the
        recorded process; then its session, if the recorded socket's server is still the
        one that run owned (its owner mark) and the session is the agent's; then that
        server, once no session is left on it."""
        socket, owner = entry.get("socket"), entry.get("owner")
        stopped = await stop_recorded(entry)
        ours = False
        if isinstance(socket, str) and "/" in socket and entry.get("session") == session_name(name):
            server = TmuxServer(self.config.tmux, socket)
            found = await server.run("show-options", "-gqv", OWNER, check=False)
            ours = found is not None and found.strip() == owner
            if ours:
                await server.run("kill-session", "-t", f"={entry['session']}", check=False)
                left = await server.run("list-sessions", "-F", "#{session_name}", check=False)
                if not (left or "").strip():
                    await server.stop()
        if not (stopped or ours):
            return None
        return {
            "pid": entry.get("pid"),
            "session": entry.get("session"),
            "socket": socket,
            "orchestrator": entry.get("orchestrator"),
        }

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
        abstain."""
        session = self._by_agent.get(agent.id)
        if session is None:
            return None
        await self.watch.look(session)
        if session.live.ended is not None:
            return alveary.HealthReport(alveary.HealthStatus.FAILED, session.live.ended)
        return None

    async def close(self) -> None:
        """At shutdown: stop the server (one tmux call, whatever is left: normally nothing,
        the kernel stopped every agent), release what is left, stop listening to the hooks,
        and remove the run directory if it was a temporary one. Quick, within a hook's
        budget."""
        if self.watch.run_dir is not None:
            await self.server.stop()  # ours alone: claimed at start
        for session in list(self.watch.sessions.values()):
            await self._cleanup(session, server=False)
        await self.watch.close()


async def _pump(stream: asyncio.StreamReader, live: Live) -> None:
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return
        live.log.write(chunk)
