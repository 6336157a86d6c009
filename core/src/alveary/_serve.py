"""The agent's end of the protocol: what ``alveary.agent.serve`` runs.

Threads, not an event loop, until a coroutine needs one: the main thread reads the channel,
plain handlers run in up to ``capacity`` worker threads, and the first ``async`` handler
starts an asyncio loop in a thread of its own. So an agent is ready (its ``hello`` sent)
without importing asyncio, which alone costs more than the rest of the agent's start.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from . import wire
from ._errors import PermanentFailure

if TYPE_CHECKING:
    import asyncio

    from .agent import ProtocolAgent


class Outbox(Protocol):
    """Where an agent's messages go: ``send`` takes one encoded message, from any thread,
    and drops it once the orchestrator is gone."""

    def send(self, data: bytes) -> None: ...


class Channel:
    """Writes protocol lines to a file descriptor, from any thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self.fd, view) :]
            except OSError:  # the orchestrator is gone: stop writing, the reader sees EOF
                self.closed = True


class Job:
    """One task the orchestrator sent: what to do and a way to log about it."""

    __slots__ = ("_channel", "attempt", "id", "kind", "payload", "timeout")

    def __init__(
        self,
        id: str,
        kind: str,
        payload: Any,
        attempt: int = 1,
        timeout: float | None = None,
        channel: Outbox | None = None,
    ) -> None:
        self.id = id
        self.kind = kind
        self.payload = payload
        self.attempt = attempt
        self.timeout = timeout
        self._channel = channel

    def log(self, message: str, level: str = "info") -> None:
        """Send a line to the agent's log in the orchestrator, tagged with this task's id.
        Safe to call from any thread."""
        if self._channel is not None:
            self._channel.send(wire.Log(message, level, self.id).encode())

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} attempt {self.attempt}>"


class Server:
    """Serves one ``ProtocolAgent`` until ``shutdown`` or the end of input: ``serve`` on a
    file descriptor of lines, or ``start``, ``frame`` per message and ``finish`` for a
    message transport (a WebSocket)."""

    def __init__(self, target: ProtocolAgent, channel: Outbox) -> None:
        self.target = target
        self.channel = channel
        self.decoder = wire.Decoder(wire.TO_AGENT, _env_number("ALVEARY_MAX_LINE", wire.MAX_LINE))
        self.lock = threading.Condition()
        self.running: dict[str, Callable[[], object]] = {}
        """Each running job's cancel."""
        self.jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self.workers = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: dict[str, asyncio.Task[None]] = {}
        """Async jobs, touched on the loop's thread only."""
        self.stop = threading.Event()

    def serve(self, inbox: int) -> int:
        """Speak the protocol on the lines read from ``inbox``; return the exit status."""
        self.start()
        self.finish(self._read(inbox))
        return 0

    def start(self) -> None:
        """Say ``hello`` and start the heartbeats."""
        self.channel.send(self.target.hello().encode())
        interval = _env_number("ALVEARY_HEARTBEAT", 0.0)
        if interval > 0:
            _thread(self._heartbeats, interval, self.stop)

    def frame(self, data: bytes) -> bool:
        """Act on one message of a message transport; True once it was ``shutdown``."""
        return any(self._handle(lineno, message) for lineno, message in self.decoder.frame(data))

    def finish(self, orderly: bool) -> None:
        """Wait for the running jobs, after cancelling them unless the end was ``orderly``
        (a ``shutdown``, not a lost orchestrator: then nobody waits for their results)."""
        with self.lock:
            if not orderly:
                for cancel in list(self.running.values()):
                    cancel()
            self.lock.wait_for(lambda: not self.running)
        self.stop.set()
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)

    def _read(self, inbox: int) -> bool:
        """Act on what arrives until ``shutdown`` (True) or the end of input (False)."""
        while True:
            try:
                chunk = os.read(inbox, 65536)
            except OSError:
                chunk = b""
            for lineno, message in self.decoder.feed(chunk) if chunk else self.decoder.end():
                if self._handle(lineno, message):
                    return True
            if not chunk:
                return False

    def _handle(self, lineno: int, message: wire.Message) -> bool:
        if isinstance(message, wire.Task):
            self._start(message)
        elif isinstance(message, wire.Cancel):
            with self.lock:
                cancel = self.running.get(message.id)
            if cancel is not None:
                cancel()
        elif isinstance(message, wire.Shutdown):
            return True
        elif isinstance(message, wire.Unknown):
            _warn(f"ignoring messages of unknown type {message.type!r}")
        elif isinstance(message, wire.Malformed):
            excerpt = f": {message.excerpt!r}" if message.excerpt else ""
            _warn(f"ignoring line {lineno}: {message.reason}{excerpt}")
        return False

    def _start(self, task: wire.Task) -> None:
        job = Job(task.id, task.kind, task.payload, task.attempt, task.timeout, self.channel)
        with self.lock:
            if job.id in self.running:
                _warn(f"ignoring a task whose id {job.id!r:.80} is running already")
                return
            if self.target.is_async:
                loop = self._loop()
                self.running[job.id] = lambda: loop.call_soon_threadsafe(self._cancel, job.id)
                loop.call_soon_threadsafe(self._spawn, job)
                return
            self.running[job.id] = lambda: self._finish(job.id, _cancelled(job.id))
            self.jobs.put(job)
            if self.workers < self.target.capacity:
                self.workers += 1
                _thread(self._work)

    def _finish(self, job_id: str, reply: bytes) -> None:
        """Send the one answer of a job: the first of its result and its cancel wins."""
        with self.lock:
            if self.running.pop(job_id, None) is None:
                return
            self.channel.send(reply)
            self.lock.notify_all()

    # -- plain handlers, in worker threads ----------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            with self.lock:
                if job.id not in self.running:  # cancelled while it waited
                    continue
            try:
                value = self.target.fn(job)
                if hasattr(value, "__await__"):  # a plain function that returned a coroutine
                    value = self._await(value)
                reply = _answer(job.id, value)
            except Exception as exc:  # a handler's failure is the task's
                reply = _failure(job.id, exc)
            self._finish(job.id, reply)

    def _await(self, awaitable: Any) -> Any:
        import asyncio

        async def wait() -> Any:
            return await awaitable

        with self.lock:
            loop = self._loop()
        return asyncio.run_coroutine_threadsafe(wait(), loop).result()

    # -- async handlers, on the loop's thread -------------------------------------------------

    def _loop(self) -> asyncio.AbstractEventLoop:
        """The event loop of async handlers, started on first use (with ``lock`` held)."""
        if self.loop is None:
            import asyncio

            loop = self.loop = asyncio.new_event_loop()
            _thread(loop.run_forever)
        return self.loop

    def _spawn(self, job: Job) -> None:
        assert self.loop is not None
        task = self.loop.create_task(self._run(job))
        self.tasks[job.id] = task
        task.add_done_callback(lambda _: self._ended(job.id, task))

    def _ended(self, job_id: str, task: asyncio.Task[None]) -> None:
        self.tasks.pop(job_id, None)
        if task.cancelled():  # cancelled before it started: it never answered
            self._finish(job_id, _cancelled(job_id))

    def _cancel(self, job_id: str) -> None:
        task = self.tasks.get(job_id)
        if task is not None:
            task.cancel()

    async def _run(self, job: Job) -> None:
        import asyncio

        try:
            value = await self.target.fn(job)
            reply = _answer(job.id, value)
        except asyncio.CancelledError:
            reply = _cancelled(job.id)
        except Exception as exc:
            reply = _failure(job.id, exc)
        self._finish(job.id, reply)

    # -- heartbeats ---------------------------------------------------------------------------

    def _heartbeats(self, interval: float, stop: threading.Event) -> None:
        metrics = self.target.metrics
        while not stop.wait(interval):
            beat: dict[str, float] = {"load": round(len(self.running) / self.target.capacity, 4)}
            if metrics is not None:
                try:
                    beat.update({k: float(v) for k, v in metrics().items()})
                except Exception as exc:  # a broken metrics callback must not stop heartbeats
                    _warn(f"metrics() failed: {_describe(exc)}")
            self.channel.send(wire.Heartbeat(beat).encode())


def _answer(job_id: str, value: Any) -> bytes:
    try:
        return wire.Result(job_id, value).encode()
    except (TypeError, ValueError) as exc:
        return wire.Error(f"the result is not JSON: {exc}", job_id, retry=False).encode()


def _failure(job_id: str, exc: BaseException) -> bytes:
    if isinstance(exc, PermanentFailure):  # the orchestrator names it a PermanentFailure itself
        return wire.Error(str(exc) or "permanent failure", job_id, retry=False).encode()
    return wire.Error(_describe(exc), job_id, retry=True).encode()


def _cancelled(job_id: str) -> bytes:
    return wire.Error("cancelled", job_id, retry=False).encode()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _thread(target: Callable[..., object], *args: Any) -> None:
    # Daemon threads: a handler that never returns does not keep the agent from exiting.
    threading.Thread(target=target, args=args, daemon=True, name="alveary-agent").start()


def _env_number(name: str, default: Any) -> Any:
    try:
        return type(default)(os.environ.get(name) or default)
    except ValueError:
        return default


def _warn(message: str) -> None:
    print(f"alveary.agent: {message}", file=sys.stderr, flush=True)
