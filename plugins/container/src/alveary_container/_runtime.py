"""The ``container`` runtime: each agent is a protocol agent in its own container, spoken to
over the container's attached standard input and output."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import alveary
import attrs
import structlog
from alveary_subprocess import Live, Supervisor
from alveary_subprocess.options import parse
from alveary_subprocess.process import describe_exit

from ._config import Config, ContainerOptions
from ._engine import Engine, EngineError, Usage
from ._leftovers import Leftovers
from ._spec import container_spec
from ._stream import pump

log = structlog.get_logger("alveary.container")

_EXIT_GRACE = 1.0
"""How long a container whose output ended has to exit before it is killed."""


@attrs.define(eq=False)
class Box:
    """One agent's container, as the runtime holds it."""

    live: Live
    gone: asyncio.Future[None]
    """Done once the container has ended (``live.exit`` says how)."""
    id: str | None = None
    writer: asyncio.StreamWriter | None = None
    usage: Usage | None = None
    """Its latest CPU and memory use, added to the agent's heartbeats."""

    def send(self, data: bytes) -> None:
        if self.writer is None or self.writer.is_closing() or self.gone.done():
            raise BrokenPipeError("the container's standard input is closed")
        self.writer.write(data)


class ContainerRuntime(Supervisor):
    """Runs each agent in a container of its pool's ``options.image``."""

    name = "container"

    def __init__(self, config: Config) -> None:
        super().__init__(config, Path(config.log_dir).expanduser().resolve(), "container")
        self.engine = Engine(config.engine, config.api_timeout)
        self.instance = uuid.uuid4().hex
        self.leftovers = Leftovers(self.engine, config.owner, self.instance)
        self.boxes: dict[str, Box] = {}

    def validate(self, spec: alveary.AgentSpec) -> None:
        """Check ``spec.options`` (``alveary check`` reports it against the config line)."""
        parse(spec.options, ContainerOptions)

    def adopt(self, orchestrator: alveary.Host) -> None:
        """At ``alveary_startup``: keep the orchestrator, remove an earlier run's containers."""
        super().adopt(orchestrator)
        self.leftovers.start(orchestrator.emit)

    async def start(self, agent: alveary.Agent) -> None:
        options = parse(agent.spec.options, ContainerOptions)
        await self.leftovers.cleared()
        box: Box | None = None
        try:
            live = await self.prepare(agent, options)
            box = Box(live, asyncio.get_running_loop().create_future())
            self.boxes[agent.id] = box
            self.live[agent.id] = live
            spec = container_spec(
                options,
                agent,
                live.env,
                live.workspace.path,
                owner=self.config.owner,
                instance=self.instance,
            )
            live.log.note(f"starting container {spec.name} of image {options.image}")
            async with self.starting():
                live.began = time.perf_counter()
                box.id = await self.engine.call(self.engine.create, spec)
                sock = await self.engine.call(self.engine.attach, box.id)
                reader, box.writer = await asyncio.open_connection(sock=sock)
                conn = self.connect(live, box.send)
                live.chores.append(asyncio.ensure_future(self._watch(box, reader, conn.feed)))
                await self.engine.call(self.engine.start, box.id)
                self.emit(
                    "container.started",
                    agent,
                    {"container": box.id[:12], "name": spec.name, "image": options.image},
                )
                await self.await_hello(live, box.gone)
            live.chores.append(asyncio.ensure_future(self._measure(box)))
        except EngineError as exc:
            if box is not None:
                await self._cleanup(box)
            raise RuntimeError(f"container engine: {exc}") from None
        except BaseException:
            if box is not None:
                await self._cleanup(box)
            raise

    async def _watch(self, box: Box, reader: asyncio.StreamReader, feed: Any) -> None:
        """Feed the protocol what the container prints (its standard error goes to the
        log); once its output ends, wait for it to exit and report how it ended."""
        live = box.live
        await pump(reader, feed, live.log.write)
        assert box.id is not None
        waiting = asyncio.ensure_future(self.engine.call(self.engine.wait, box.id))
        await self.closed_output(live, waiting)
        try:
            code: int | None = await waiting
        except EngineError:
            code = None  # removed meanwhile
        reason = live.exit = (
            "the container is gone" if code is None else f"the container {describe_exit(code)}"
        )
        if live.cause is not None:
            reason = f"{live.cause}; the agent was killed"
        else:
            tail = live.log.tail()
            if tail:
                reason += f" (last output: {tail[-300:]})"
        box.gone.set_result(None)
        self.lost(live, reason)

    async def _measure(self, box: Box) -> None:
        """Sample the container's CPU and memory use at the heartbeat interval."""
        assert box.id is not None
        interval = max(self.heartbeat_interval(), 0.5)
        while not box.gone.done():
            with contextlib.suppress(EngineError):
                box.usage = await self.engine.call(self.engine.usage, box.id)
            await asyncio.sleep(interval)

    def _heartbeat(self, agent: alveary.Agent, metrics: dict[str, float]) -> None:
        """The agent's heartbeat, with its container's latest CPU and memory use."""
        box = self.boxes.get(agent.id)
        if box is not None and box.usage is not None:
            metrics = {
                **metrics,
                "container_cpu_percent": box.usage.cpu_percent,
                "container_memory_bytes": box.usage.memory_bytes,
            }
        super()._heartbeat(agent, metrics)

    async def execute(self, agent: alveary.Agent, task: alveary.Task) -> Any:
        live = self.boxes[agent.id].live
        assert live.conn is not None
        return await self.run_task(live, task, live.conn.run(task))

    async def stop(self, agent: alveary.Agent) -> None:
        """Ask the agent to finish (``shutdown``), then stop its container (SIGTERM, SIGKILL
        after ``grace``), then remove it."""
        box = self.boxes.get(agent.id)
        if box is None:
            return
        live = box.live
        live.stopping = True
        if not box.gone.done() and live.conn is not None:
            live.conn.shutdown()
            await asyncio.wait({box.gone}, timeout=live.options.grace)
        if not box.gone.done() and box.id is not None:
            with contextlib.suppress(EngineError):
                await self.engine.call(self.engine.stop, box.id, live.options.grace)
        live.log.note("stopped")
        await self._cleanup(box)

    async def _cleanup(self, box: Box) -> None:
        live = box.live
        live.stopping = True
        self.boxes.pop(live.agent.id, None)
        self.live.pop(live.agent.id, None)
        if box.id is not None:
            try:
                await self.engine.call(self.engine.remove, box.id)
            except EngineError as exc:
                live.log.note(f"cannot remove container {box.id[:12]}: {exc}")
                log.warning("cannot remove a container", agent=live.agent.name, error=str(exc))
        if box.writer is not None:
            box.writer.close()
        for chore in live.chores:
            chore.cancel()
        await asyncio.gather(*live.chores, return_exceptions=True)
        self.gone.pop(live.agent.id, None)
        await self.release(live)

    def kill(self, live: Live) -> None:
        box = self.boxes.get(live.agent.id)
        if box is not None and box.id is not None and not box.gone.done():
            killing = asyncio.ensure_future(self.engine.call(self.engine.kill, box.id))
            killing.add_done_callback(lambda done: done.cancelled() or done.exception())
            live.chores.append(killing)

    def container(self, agent: alveary.Agent) -> str | None:
        """The id of the agent's container, once it is created."""
        box = self.boxes.get(agent.id)
        return box.id if box is not None else None

    async def close(self) -> None:
        """At shutdown: remove whatever is left (normally nothing: the kernel stopped every
        agent), then let go of the engine."""
        for box in list(self.boxes.values()):
            await self._cleanup(box)
        await self.engine.close()
