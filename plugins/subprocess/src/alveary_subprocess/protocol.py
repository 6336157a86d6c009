"""The orchestrator's end of the agent protocol (``docs/agent-protocol.md``).

A ``Connection`` is one agent's channel, whatever carries it (a pipe, a FIFO, a socket): the
runtime feeds it what the agent writes (``alveary.wire`` cuts it into messages) and gives it
a function that sends bytes. It sends tasks and cancels, resolves results and errors, relays
heartbeats, writes ``log`` lines and malformed lines (with their line number) to the agent's
log, and never raises because of what the agent wrote. Whatever the agent sends, the
connection keeps a bounded amount of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import alveary
import structlog
from alveary import wire
from alveary.wire import PROTOCOL, Hello

__all__ = ["AgentError", "AgentLost", "Connection", "Hello", "read_into"]

from .logs import AgentLog

log = structlog.get_logger("alveary.protocol")

REPORTED = 10
"""Malformed lines (and agent errors without a task) per agent that are logged as warnings
and events; later ones go only to the agent's log."""


class AgentLost(alveary.AlvearyError):
    """The agent's process or channel went away while the orchestrator needed it."""


class AgentError(alveary.AlvearyError):
    """The agent answered a task with an ``error`` message (a retryable one)."""


class Connection:
    """One agent's protocol channel, seen from the orchestrator.

    ``send`` writes bytes to the agent (raising ``OSError`` or ``AgentLost`` if it cannot);
    ``on_heartbeat`` gets heartbeat metrics; ``on_broken`` is told, once, that the agent
    misbehaves beyond repair (too many malformed lines, a cancel not answered) so the runtime
    kills it; ``emit`` announces ``protocol.*`` events. ``max_line`` bounds a line in both
    directions: longer ones from the agent are dropped, a longer task is not sent.
    """

    def __init__(
        self,
        name: str,
        send: Callable[[bytes], None],
        agent_log: AgentLog,
        *,
        on_heartbeat: Callable[[dict[str, float]], None],
        on_broken: Callable[[str], None],
        emit: Callable[[str, dict[str, Any]], None],
        max_bad_lines: int = 100,
        cancel_grace: float = 5.0,
        max_line: int = wire.MAX_LINE,
    ) -> None:
        self.name = name
        self._send_bytes = send
        self.log = agent_log
        self._on_heartbeat = on_heartbeat
        self._on_broken = on_broken
        self._emit = emit
        self.max_bad_lines = max_bad_lines
        self.cancel_grace = cancel_grace
        self.decoder = wire.Decoder(wire.FROM_AGENT, max_line)
        loop = asyncio.get_running_loop()
        self.hello: asyncio.Future[Hello] = loop.create_future()
        self.closed: str | None = None
        self.bad_lines = 0
        self._bad_in_a_row = 0
        self._errors = 0
        self._dropped_metrics = False
        self._broken = False
        self._sent = 0
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._cancelling: dict[str, asyncio.TimerHandle] = {}

    # -- orchestrator -> agent ----------------------------------------------------------------

    async def run(self, task: alveary.Task) -> Any:
        """Send ``task`` and wait for its result. Cancelling this sends ``cancel``; an agent
        that does not answer it within ``cancel_grace`` is reported broken."""
        if self.closed is not None:
            raise AgentLost(self.closed)
        # A retry of a task is a new message id: a late answer to a cancelled attempt can
        # never settle the next one.
        self._sent += 1
        message_id = f"{task.id}.{self._sent}"
        message = wire.Task(
            message_id, task.id, task.kind, task.attempts, task.spec.timeout, task.payload
        )
        try:
            data = message.encode()
        except (TypeError, ValueError) as exc:
            raise alveary.PermanentFailure(f"the payload is not JSON: {exc}") from None
        if len(data) > self.decoder.max_line:
            raise alveary.PermanentFailure(
                f"the task is {len(data)} bytes on the wire, "
                f"longer than max_line ({self.decoder.max_line})"
            )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        try:
            self._send(data)
            return await future
        except asyncio.CancelledError:
            if self._pending.pop(message_id, None) is not None and self.closed is None:
                self._cancel(message_id)
            raise
        finally:
            self._pending.pop(message_id, None)

    def shutdown(self) -> None:
        """Ask the agent to finish and exit."""
        with contextlib.suppress(AgentLost):
            self._send(wire.Shutdown().encode())

    def close(self, reason: str) -> None:
        """The channel is gone: fail whatever waits on it with ``reason``."""
        if self.closed is not None:
            return
        self.closed = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(AgentLost(reason))
        self._pending.clear()
        self._fail_hello(reason)
        for timer in self._cancelling.values():
            timer.cancel()
        self._cancelling.clear()
        if self.decoder.unknown:
            names = ", ".join(sorted(self.decoder.unknown_types))
            self.log.note(f"protocol: {self.decoder.unknown} messages of unknown types ({names})")

    def _fail_hello(self, reason: str) -> None:
        if not self.hello.done():
            self.hello.set_exception(AgentLost(reason))
            self.hello.exception()  # whoever waited for it has its own reason already

    def _send(self, data: bytes) -> None:
        if self.closed is not None:
            raise AgentLost(self.closed)
        try:
            self._send_bytes(data)
        except (OSError, RuntimeError) as exc:
            raise AgentLost(f"cannot write to the agent: {exc}") from None

    def _cancel(self, task_id: str) -> None:
        try:
            self._send(wire.Cancel(task_id).encode())
        except AgentLost:
            return
        loop = asyncio.get_running_loop()
        self._cancelling[task_id] = loop.call_later(self.cancel_grace, self._unanswered, task_id)

    def _unanswered(self, task_id: str) -> None:
        self._cancelling.pop(task_id, None)
        self._break(
            f"it did not answer the cancel of task {task_id} within {self.cancel_grace:g} s"
        )

    # -- agent -> orchestrator ----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Take the next bytes the agent wrote; ``b""`` is the end of its output."""
        self.receive(self.decoder.feed(data) if data else self.decoder.end())

    def receive(self, received: list[wire.Received]) -> None:
        """Act on messages from the agent (from ``decoder``, or a message transport's
        ``decoder.frame``)."""
        for lineno, message in received:
            problem = self._act(message)
            if problem is None:
                self._bad_in_a_row = 0
            else:
                self._bad(lineno, *problem)

    def _act(self, message: wire.Message) -> tuple[str, bytes] | None:
        """Act on one message; what is wrong with it, if anything."""
        if isinstance(message, wire.Result):
            value = self.log.mask_value(message.value)
            self._answered(message.id, lambda future: future.set_result(value))
        elif isinstance(message, wire.Heartbeat):
            self._heartbeat(message)
        elif isinstance(message, wire.Log):
            where = f" task {message.id}" if message.id is not None else ""
            self.log.write(f"[{message.level}]{where} {message.message}\n".encode(errors="replace"))
        elif isinstance(message, wire.Error):
            self._error(message)
        elif isinstance(message, wire.Hello):
            return self._hello(message)
        elif isinstance(message, wire.Unknown):
            self.log.note(f"protocol: messages of unknown type {message.type!r} ignored")
            log.warning("unknown protocol message type ignored", agent=self.name, type=message.type)
        elif isinstance(message, wire.Malformed):
            if message.type == "hello":  # a hello that lies cannot be trusted with work
                self._fail_hello(f"its hello is malformed: {message.reason}")
            return message.reason, message.excerpt
        return None

    def _hello(self, hello: Hello) -> tuple[str, bytes] | None:
        if self.hello.done():
            return "a second hello", b""
        if hello.protocol > PROTOCOL:
            error = AgentLost(
                f"the agent speaks protocol {hello.protocol}; this orchestrator speaks {PROTOCOL}"
            )
            self.hello.set_exception(error)
        else:
            self.hello.set_result(hello)
        return None

    def _heartbeat(self, beat: wire.Heartbeat) -> None:
        if beat.dropped and not self._dropped_metrics:
            self._dropped_metrics = True
            self.log.note(
                "protocol: heartbeat fields dropped (not finite, a key longer than "
                f"{wire.MAX_NAME} characters, or past {wire.MAX_METRICS} keys); "
                "later drops are not noted"
            )
        if beat.metrics:
            self._on_heartbeat(dict(beat.metrics))

    def _error(self, error: wire.Error) -> None:
        text = self.log.mask(error.message)
        if error.id is None:
            self._errors += 1
            self.log.note(f"agent error: {text}")
            if self._errors <= REPORTED:
                log.warning("agent reported an error", agent=self.name, error=text[:300])
            return
        failure = AgentError(text) if error.retry else alveary.PermanentFailure(text)
        self._answered(error.id, lambda future: future.set_exception(failure))

    def _answered(self, task_id: str, settle: Callable[[asyncio.Future[Any]], None]) -> None:
        future = self._pending.pop(task_id, None)
        if future is not None:
            if not future.done():
                settle(future)
            return
        timer = self._cancelling.pop(task_id, None)
        if timer is not None:
            timer.cancel()  # the answer to a cancel: the agent is responsive
            return
        self.log.note(f"protocol: answer for task {task_id:.200}, which is not running; ignored")

    def _bad(self, lineno: int, reason: str, line: bytes) -> None:
        self.bad_lines += 1
        self._bad_in_a_row += 1
        excerpt = self.log.mask(line[:120].decode(errors="replace"))
        self.log.note(f"protocol: line {lineno}: {reason}: {excerpt!r}")
        if self.bad_lines <= REPORTED:
            log.warning(
                "malformed protocol line", agent=self.name, line=lineno, reason=reason, text=excerpt
            )
            self._emit("protocol.error", {"line": lineno, "reason": reason, "text": excerpt})
        if self._bad_in_a_row >= self.max_bad_lines:
            self._break(
                f"{self._bad_in_a_row} malformed protocol lines in a row "
                f"(the last, line {lineno}: {reason})"
            )

    def _break(self, reason: str) -> None:
        if not self._broken and self.closed is None:
            self._broken = True
            self._on_broken(reason)


async def read_into(reader: asyncio.StreamReader, conn: Connection) -> None:
    """Feed ``conn`` what ``reader`` yields, until the end of input."""
    while True:
        chunk = await reader.read(65536)
        conn.feed(chunk)
        if not chunk:
            return
