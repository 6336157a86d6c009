"""Write an agent that runs in its own process: a decorated function that speaks the agent
protocol (``docs/agent-protocol.md``) on its standard input and output.

::

    # reviewer.py
    from alveary.agent import agent

    @agent(capabilities={"review"}, capacity=2, version="1.0")
    async def review(job):
        job.log(f"reviewing {len(job.payload)} characters")
        return {"ok": "TODO" not in job.payload}

    if __name__ == "__main__":
        review.run()

Run it with ``python reviewer.py`` (or ``python -m alveary.agent reviewer:review``) under the
``subprocess`` or ``tmux`` runtime. The handler gets a ``Job`` (``id``, ``kind``, ``payload``,
``attempt``, ``timeout``); what it returns (JSON-able) is the task's value; an exception fails
the attempt, ``alveary.PermanentFailure`` without retries. Async handlers run on the event
loop and are cancelled when the orchestrator cancels the task; plain functions run in worker
threads. Up to ``capacity`` jobs run at once.

The protocol owns the real standard output: ``run`` moves it aside and points file descriptor 1
at standard error, so a stray ``print`` (or a child process's output) lands in the agent's log
and never corrupts the channel. When ``ALVEARY_IN`` and ``ALVEARY_OUT`` name two FIFOs (the
``tmux`` runtime's ``fifo`` transport) the protocol uses those instead and leaves standard
input and output to the terminal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import inspect
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

from ._errors import PermanentFailure

__all__ = ["PROTOCOL", "Job", "ProtocolAgent", "agent", "main", "serve"]

PROTOCOL = 1
"""The protocol version this library speaks (``hello.protocol``)."""

Handler = Callable[["Job"], Any]
Metrics = Callable[[], Mapping[str, float]]


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
        channel: _Channel | None = None,
    ) -> None:
        self.id = id
        self.kind = kind
        self.payload = payload
        self.attempt = attempt
        self.timeout = timeout
        self._channel = channel

    def log(self, message: str, level: str = "info") -> None:
        """Send a line to the agent's log in the orchestrator, tagged with this task's id.
        Safe to call from a worker thread."""
        if self._channel is not None:
            self._channel.send({"type": "log", "id": self.id, "level": level, "message": message})

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} attempt {self.attempt}>"


class ProtocolAgent:
    """A handler plus what its ``hello`` says about it; ``agent(...)`` makes one.

    Calling it calls the handler (handy in tests); ``run()`` serves the protocol until the
    orchestrator sends ``shutdown`` or closes the channel.
    """

    def __init__(
        self,
        fn: Handler,
        *,
        name: str | None = None,
        capabilities: Iterable[str] = (),
        capacity: int = 1,
        version: str = "",
        metrics: Metrics | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "agent")
        self.capabilities = frozenset(
            [capabilities] if isinstance(capabilities, str) else capabilities
        )
        self.capacity = capacity
        self.version = version
        self.metrics = metrics
        self.is_async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, job: Job) -> Any:
        return self.fn(job)

    def hello(self) -> dict[str, Any]:
        """The ``hello`` message this agent opens the channel with."""
        message: dict[str, Any] = {
            "type": "hello",
            "protocol": PROTOCOL,
            "name": os.environ.get("ALVEARY_AGENT") or self.name,
            "capacity": self.capacity,
            "version": self.version,
        }
        if self.capabilities:
            message["capabilities"] = sorted(self.capabilities)
        return message

    def run(self) -> None:
        """Serve the protocol on this process's channel, then exit with its status."""
        sys.exit(serve(self))


@overload
def agent(fn: Handler, /) -> ProtocolAgent: ...


@overload
def agent(
    *,
    name: str | None = None,
    capabilities: Iterable[str] = (),
    capacity: int = 1,
    version: str = "",
    metrics: Metrics | None = None,
) -> Callable[[Handler], ProtocolAgent]: ...


def agent(
    fn: Handler | None = None,
    /,
    *,
    name: str | None = None,
    capabilities: Iterable[str] = (),
    capacity: int = 1,
    version: str = "",
    metrics: Metrics | None = None,
) -> ProtocolAgent | Callable[[Handler], ProtocolAgent]:
    """Make ``fn`` an agent: ``@agent`` or ``@agent(capabilities={...}, capacity=4)``.

    ``capabilities`` and ``capacity`` go into ``hello``; the pool's config must not ask for
    more. ``metrics`` returns extra numbers for each heartbeat (``{"context": 0.4}``); the
    heartbeat always carries ``load``, the share of ``capacity`` in use.
    """

    def wrap(handler: Handler) -> ProtocolAgent:
        return ProtocolAgent(
            handler,
            name=name,
            capabilities=capabilities,
            capacity=capacity,
            version=version,
            metrics=metrics,
        )

    return wrap(fn) if fn is not None else wrap


def serve(target: ProtocolAgent, inbox: int | None = None, outbox: int | None = None) -> int:
    """Speak the protocol for ``target`` until ``shutdown`` or end of input; return the exit
    status. Without arguments it opens the process's channel (see the module docstring);
    ``inbox`` and ``outbox`` (file descriptors) override it."""
    if inbox is None or outbox is None:
        inbox, outbox = _open_channel()
    return asyncio.run(_Server(target, inbox, outbox).serve())


def _open_channel() -> tuple[int, int]:
    in_path, out_path = os.environ.get("ALVEARY_IN"), os.environ.get("ALVEARY_OUT")
    if in_path and out_path:
        return os.open(in_path, os.O_RDONLY), os.open(out_path, os.O_WRONLY)
    sys.stdout.flush()
    outbox = os.dup(1)
    os.dup2(2, 1)  # from now on fd 1 is stderr: stray output cannot corrupt the protocol
    return 0, outbox


class _Channel:
    """Writes protocol lines to a file descriptor, from any thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False
        self._lock = threading.Lock()

    def send(self, message: Mapping[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self.closed:
                return
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self.fd, view) :]
            except OSError:  # the orchestrator is gone: stop writing, the reader sees EOF
                self.closed = True


class _Splitter:
    """Cuts a byte stream into lines, in linear time however long a line is."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        start = len(self.buffer)
        self.buffer += data
        lines, cut = [], 0
        newline = self.buffer.find(b"\n", start)
        while newline >= 0:
            lines.append(bytes(self.buffer[cut:newline]))
            cut = newline + 1
            newline = self.buffer.find(b"\n", cut)
        del self.buffer[:cut]
        return lines

    def rest(self) -> list[bytes]:
        rest, self.buffer = bytes(self.buffer), bytearray()
        return [rest] if rest else []


class _Lines(asyncio.Protocol):
    """Hands what arrives to the server's queue line by line; None marks the end."""

    def __init__(self, lines: asyncio.Queue[bytes | None]) -> None:
        self.lines = lines
        self.splitter = _Splitter()

    def data_received(self, data: bytes) -> None:
        for line in self.splitter.feed(data):
            self.lines.put_nowait(line)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        for line in self.splitter.rest():
            self.lines.put_nowait(line)
        self.lines.put_nowait(None)


class _Server:
    def __init__(self, target: ProtocolAgent, inbox: int, outbox: int) -> None:
        self.target = target
        self.inbox = inbox
        self.channel = _Channel(outbox)
        self.running: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=target.capacity, thread_name_prefix="alveary-agent"
        )

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[bytes | None] = asyncio.Queue()
        transport = await self._listen(loop, lines)
        self.channel.send(self.target.hello())
        beat = _heartbeat_interval()
        beating = loop.create_task(self._heartbeats(beat)) if beat > 0 else None
        orderly = False
        try:
            while True:
                line = await lines.get()
                if line is None:
                    break
                if self._handle(line):
                    orderly = True
                    break
        finally:
            if transport is not None:
                transport.close()
            if beating is not None:
                beating.cancel()
            if not orderly:  # the orchestrator went away: nobody waits for these results
                for task in self.running.values():
                    task.cancel()
            if self.running:
                await asyncio.gather(*self.running.values(), return_exceptions=True)
            self.pool.shutdown(wait=False, cancel_futures=True)
        return 0

    async def _listen(
        self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[bytes | None]
    ) -> asyncio.BaseTransport | None:
        """Feed input lines to ``lines``: on the event loop when the input is a pipe, a FIFO,
        a socket or a terminal (no thread hand-off per message), else from a thread."""
        try:
            pipe = os.fdopen(self.inbox, "rb", buffering=0, closefd=False)
            transport, _ = await loop.connect_read_pipe(lambda: _Lines(lines), pipe)
        except (ValueError, OSError, NotImplementedError):  # a regular file, or no support
            threading.Thread(target=self._read, args=(loop, lines), daemon=True).start()
            return None
        return transport

    def _read(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[bytes | None]) -> None:
        # Plain os.read, not a buffered file: a thread blocked in a buffered read would make
        # the interpreter abort at exit.
        splitter = _Splitter()
        while True:
            try:
                chunk = os.read(self.inbox, 65536)
            except OSError:
                chunk = b""
            for line in splitter.feed(chunk) if chunk else splitter.rest():
                loop.call_soon_threadsafe(lines.put_nowait, line)
            if not chunk:
                break
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(lines.put_nowait, None)

    def _handle(self, line: bytes) -> bool:
        """Act on one message; True when it asks the agent to shut down."""
        if not line.strip():
            return False
        try:
            message = json.loads(line)
        except ValueError as exc:
            _warn(f"ignoring a line that is not JSON ({exc}): {line[:200]!r}")
            return False
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "task":
            self._start(message)
        elif kind == "cancel":
            task = self.running.get(str(message.get("id")))
            if task is not None:
                task.cancel()
        elif kind == "shutdown":
            return True
        else:
            _warn(f"ignoring a message of unknown type {kind!r}")
        return False

    def _start(self, message: dict[str, Any]) -> None:
        job_id = message.get("id")
        if not isinstance(job_id, str) or job_id in self.running:
            _warn(f"ignoring a task without a fresh string id: {message!r:.200}")
            return
        timeout = message.get("timeout")
        job = Job(
            job_id,
            str(message.get("kind", "")),
            message.get("payload"),
            int(message.get("attempt", 1)),
            float(timeout) if isinstance(timeout, (int, float)) else None,
            self.channel,
        )
        task = asyncio.get_running_loop().create_task(self._run(job))
        task.add_done_callback(functools.partial(self._reply, job_id))
        self.running[job_id] = task

    def _reply(self, job_id: str, task: asyncio.Task[dict[str, Any]]) -> None:
        # A callback, not the end of _run: a job cancelled before it started never runs.
        self.running.pop(job_id, None)
        reply = _error(job_id, "cancelled", retry=False) if task.cancelled() else task.result()
        self.channel.send(reply)

    async def _run(self, job: Job) -> dict[str, Any]:
        try:
            if self.target.is_async:
                value = await self.target.fn(job)
            else:
                loop = asyncio.get_running_loop()
                value = await loop.run_in_executor(self.pool, self.target.fn, job)
            if inspect.isawaitable(value):
                value = await value
        except asyncio.CancelledError:
            return _error(job.id, "cancelled", retry=False)
        except PermanentFailure as exc:  # the orchestrator names it a PermanentFailure itself
            return _error(job.id, str(exc) or "permanent failure", retry=False)
        except Exception as exc:
            return _error(job.id, _describe(exc), retry=True)
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            return _error(job.id, f"the result is not JSON: {exc}", retry=False)
        return {"type": "result", "id": job.id, "value": value}

    async def _heartbeats(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            beat: dict[str, Any] = {
                "type": "heartbeat",
                "load": round(len(self.running) / self.target.capacity, 4),
            }
            if self.target.metrics is not None:
                try:
                    beat.update({k: float(v) for k, v in self.target.metrics().items()})
                except Exception as exc:  # a broken metrics callback must not stop heartbeats
                    _warn(f"metrics() failed: {_describe(exc)}")
            self.channel.send(beat)


def _heartbeat_interval() -> float:
    try:
        return float(os.environ.get("ALVEARY_HEARTBEAT", "0"))
    except ValueError:
        return 0.0


def _error(job_id: str, message: str, *, retry: bool) -> dict[str, Any]:
    return {"type": "error", "id": job_id, "message": message, "retry": retry}


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _warn(message: str) -> None:
    print(f"alveary.agent: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m alveary.agent module:attribute``: serve a decorated function (or a plain
    function, as an agent with default settings)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or ":" not in args[0]:
        print("usage: python -m alveary.agent package.module:function", file=sys.stderr)
        return 2
    module, _, attribute = args[0].partition(":")
    sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        print(f"alveary.agent: cannot import {args[0]!r}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(target, ProtocolAgent):
        if not callable(target):
            print(f"alveary.agent: {args[0]!r} is not callable", file=sys.stderr)
            return 2
        target = ProtocolAgent(target)
    return serve(target)


if __name__ == "__main__":  # pragma: no cover - python -m alveary.agent
    from alveary.agent import main as _main  # the importable module, not __main__

    sys.exit(_main())
