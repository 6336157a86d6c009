"""The ``subprocess`` runtime: a long-lived protocol agent per agent, or a tool run per task."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Any

import alveary
import structlog

from ._config import Config
from ._oneshot import command_for, run_once
from ._supervisor import Live, Supervisor
from .logs import AgentLog
from .options import SubprocessOptions, parse
from .orphans import process_record
from .process import Child, describe_exit, signal_group, spawn, stop_group, write_to
from .protocol import read_into

log = structlog.get_logger("alveary.subprocess")


class SubprocessRuntime(Supervisor):
    """Runs each agent as a child process: a protocol agent over its standard input and
    output (``options.command``), or a tool started once per task (``options.template`` or
    ``options.shell``)."""

    name = "subprocess"

    def __init__(self, config: Config) -> None:
        super().__init__(config, Path(config.log_dir).expanduser().resolve(), "subprocess")

    def validate(self, spec: alveary.AgentSpec) -> None:
        """Check ``spec.options``; ``alveary check`` reports a ``ValueError`` against the
        pool's config line."""
        parse(spec.options, SubprocessOptions)

    async def start(self, agent: alveary.Agent) -> None:
        options = parse(agent.spec.options, SubprocessOptions)
        await self.orphans.cleared()
        live: Live | None = None
        try:
            live = await self.prepare(agent, options)
            live.log.note(f"starting ({'one-shot' if options.one_shot else 'protocol'})")
            self.live[agent.id] = live
            if not options.one_shot:
                await self._spawn(live, options)
        except BaseException:
            if live is not None:
                await self._cleanup(live)
            raise

    async def _spawn(self, live: Live, options: SubprocessOptions) -> None:
        async with self.starting():
            live.began = time.perf_counter()
            child = await spawn(
                options.argv(),
                cwd=live.workspace.path,
                env=live.env,
                limits=options.limits,
                on_exit=lambda _: self.mark_gone(live),  # before its last output is read
            )
            live.child = child
            self.orphans.add(live.agent.name, process_record(child.pid))
            conn = self.connect(live, write_to(child))
            stdout, stderr = child.process.stdout, child.process.stderr
            assert stdout is not None
            assert stderr is not None
            reader = asyncio.ensure_future(read_into(stdout, conn))
            pump = asyncio.ensure_future(_pump(stderr, live.log))
            watcher = asyncio.ensure_future(self._watch(live, child, reader, pump))
            live.chores += [reader, pump, watcher]
            await self.await_hello(live, watcher)

    async def _watch(
        self,
        live: Live,
        child: Child,
        reader: asyncio.Future[Any],
        pump: asyncio.Future[Any],
    ) -> None:
        await asyncio.wait({child.exited, reader}, return_when=asyncio.FIRST_COMPLETED)
        if not child.exited.done():
            await self.closed_output(live, child.exited)
        code = await child.wait()
        await stop_group(child, 0)  # whatever it left running in its group goes too
        # Let the last lines it wrote (a result just before it died) be read first.
        await asyncio.wait({reader, pump}, timeout=1.0)
        reason = live.exit = f"the process {describe_exit(code)}"
        if live.cause is not None:
            reason = f"{live.cause}; the agent was killed"
        else:
            tail = live.log.tail()
            if tail:
                reason += f" (last output: {tail[-300:]})"
        self.lost(live, reason)

    def kill(self, live: Live) -> None:
        if live.child is not None and live.child.returncode is None:
            signal_group(live.child.pid, signal.SIGKILL)

    def pid(self, agent: alveary.Agent) -> int | None:
        """The agent's process id while it runs (for memory watches); None for one-shot
        agents, whose processes live only as long as a task."""
        live = self.live.get(agent.id)
        if live is None or live.child is None or live.child.returncode is not None:
            return None
        return live.child.pid

    async def execute(self, agent: alveary.Agent, task: alveary.Task) -> Any:
        live = self.live[agent.id]
        if live.conn is not None:
            return await self.run_task(live, task, live.conn.run(task))
        options = live.options
        assert isinstance(options, SubprocessOptions)
        argv, stdin = command_for(options, agent, task, live.workspace.path)
        if self.orchestrator is not None:  # the command guards (alveary_command_check)
            where = None if live.workspace.path is None else str(live.workspace.path)
            await self.orchestrator.guard_command(task, agent, argv, where)
        work = run_once(
            options,
            argv,
            stdin,
            cwd=live.workspace.path,
            env=live.env,
            agent_log=live.log,
            label=f"task {task.id} attempt {task.attempts}",
        )
        return await self.run_task(live, task, work)

    async def stop(self, agent: alveary.Agent) -> None:
        live = self.live.get(agent.id)
        if live is None:
            return
        live.stopping = True
        child = live.child
        if child is not None and child.returncode is None and live.conn is not None:
            live.conn.shutdown()
            if child.process.stdin is not None:
                child.process.stdin.close()  # end of input also means: finish and exit
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(child.wait(), live.options.grace)
        if child is not None:
            await stop_group(child, live.options.grace)
        live.log.note("stopped")
        await self._cleanup(live)

    async def _cleanup(self, live: Live) -> None:
        self.live.pop(live.agent.id, None)
        if live.child is not None:
            await stop_group(live.child, 0)
        for chore in live.chores:
            chore.cancel()
        if live.chores:
            await asyncio.gather(*live.chores, return_exceptions=True)
        if live.child is not None:
            live.child.close()
            self.orphans.remove(live.agent.name)
        self.gone.pop(live.agent.id, None)  # after its exit, which marks it
        await self.release(live)

    async def close(self) -> None:
        """At shutdown: kill whatever is still running (the kernel stopped every agent
        before, so normally nothing)."""
        for live in list(self.live.values()):
            live.stopping = True
            self.kill(live)


async def _pump(stream: asyncio.StreamReader, agent_log: AgentLog) -> None:
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return
        agent_log.write(chunk)
