"""The orchestrator's end of the agent protocol (``docs/agent-protocol.md``).

A ``Connection`` is one agent's channel, whatever carries it (a pipe, a FIFO, a socket): the
runtime feeds it the lines the agent writes and gives it a function that sends bytes. It sends
tasks and cancels, resolves results and errors, relays heartbeats, writes ``log`` lines and
malformed lines (with their line number) to the agent's log, and never raises because of what
the agent wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import alveary
import attrs
import structlog
from alveary.agent import PROTOCOL

from .logs import AgentLog

log = structlog.get_logger("alveary.protocol")

REPORTED_BAD_LINES = 10
"""Malformed lines per agent that are logged as warnings and events; later ones go only to the
agent's log (and count towards ``max_bad_lines``)."""


class AgentLost(alveary.AlvearyError):
    """The agent's process or channel went away while the orchestrator needed it."""


class AgentError(alveary.AlvearyError):
    """The agent answered a task with an ``error`` message (a retryable one)."""


@attrs.frozen
class Hello:
    """What an agent said about itself when it started."""

    protocol: int = PROTOCOL
    name: str = ""
    capabilities: frozenset[str] | None = None
    """None when the agent did not say: the config alone decides."""
    capacity: int | None = None
    version: str = ""

    def mismatch(self, spec: alveary.AgentSpec) -> str | None:
        """Why the agent cannot be what ``spec`` says, or None. The config decides what is
        routed, so an agent may offer more than its spec names but never less."""
        if self.capabilities is not None:
            missing = spec.capabilities - self.capabilities
            if missing:
                return (
                    f"the agent does not offer {', '.join(sorted(missing))} "
                    f"(its hello lists {', '.join(sorted(self.capabilities)) or 'nothing'})"
                )
        if self.capacity is not None and self.capacity < spec.capacity:
            return f"the config asks for capacity {spec.capacity}; the agent offers {self.capacity}"
        return None


def encode_task(task: alveary.Task, message_id: str) -> bytes:
    """A ``task`` message: compact, ``type`` first and ``payload`` last, so that line-oriented
    agents (a shell script) can cut the payload out verbatim. ``message_id`` names this
    attempt on this channel; ``task`` is the orchestrator's task id."""
    head = json.dumps(
        {
            "type": "task",
            "id": message_id,
            "task": task.id,
            "kind": task.kind,
            "attempt": task.attempts,
            "timeout": task.spec.timeout,
        },
        separators=(",", ":"),
    )
    try:
        payload = json.dumps(task.payload, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise alveary.PermanentFailure(f"the payload is not JSON: {exc}") from None
    return f'{head[:-1]},"payload":{payload}}}\n'.encode()


def _line(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


class Connection:
    """One agent's protocol channel, seen from the orchestrator.

    ``send`` writes bytes to the agent (raising ``OSError`` or ``AgentLost`` if it cannot);
    ``on_heartbeat`` gets heartbeat metrics; ``on_broken`` is told, once, that the agent
    misbehaves beyond repair (too many malformed lines, a cancel not answered) so the runtime
    kills it; ``emit`` announces ``protocol.*`` events.
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
    ) -> None:
        self.name = name
        self._send_bytes = send
        self.log = agent_log
        self._on_heartbeat = on_heartbeat
        self._on_broken = on_broken
        self._emit = emit
        self.max_bad_lines = max_bad_lines
        self.cancel_grace = cancel_grace
        loop = asyncio.get_running_loop()
        self.hello: asyncio.Future[Hello] = loop.create_future()
        self.closed: str | None = None
        self.bad_lines = 0
        self._bad_in_a_row = 0
        self._broken = False
        self._unknown: set[str] = set()
        self._sent = 0
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._cancelling: dict[str, asyncio.TimerHandle] = {}
        self._handlers: dict[str, Callable[[dict[str, Any]], str | None]] = {
            "hello": self._hello,
            "heartbeat": self._heartbeat,
            "result": self._result,
            "error": self._error,
            "log": self._log,
        }

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
        data = encode_task(task, message_id)
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
            self._send(_line({"type": "shutdown"}))

    def close(self, reason: str) -> None:
        """The channel is gone: fail whatever waits on it with ``reason``."""
        if self.closed is not None:
            return
        self.closed = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(AgentLost(reason))
        self._pending.clear()
        if not self.hello.done():
            self.hello.set_exception(AgentLost(reason))
            self.hello.exception()  # whoever waited for it has its own reason already
        for timer in self._cancelling.values():
            timer.cancel()
        self._cancelling.clear()

    def _send(self, data: bytes) -> None:
        if self.closed is not None:
            raise AgentLost(self.closed)
        try:
            self._send_bytes(data)
        except (OSError, RuntimeError) as exc:
            raise AgentLost(f"cannot write to the agent: {exc}") from None

    def _cancel(self, task_id: str) -> None:
        try:
            self._send(_line({"type": "cancel", "id": task_id}))
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

    def feed(self, lineno: int, line: bytes) -> None:
        """Handle line ``lineno`` (1-based) the agent wrote."""
        text = line.strip()
        if not text:
            return
        try:
            message = json.loads(text)
        except ValueError as exc:
            self._bad(lineno, f"not JSON ({getattr(exc, 'msg', exc)})", line)
            return
        if not isinstance(message, dict):
            self._bad(lineno, "not a JSON object", line)
            return
        kind = message.get("type")
        if not isinstance(kind, str):
            self._bad(lineno, 'no string "type"', line)
            return
        handler = self._handlers.get(kind)
        if handler is None:
            self._bad_in_a_row = 0
            if kind not in self._unknown:
                self._unknown.add(kind)
                self.log.note(f"protocol: line {lineno}: unknown message type {kind!r} ignored")
                log.warning(
                    "unknown protocol message type ignored", agent=self.name, line=lineno, type=kind
                )
            return
        problem = handler(message)
        if problem is None:
            self._bad_in_a_row = 0
        else:
            self._bad(lineno, problem, line)

    def oversize(self, lineno: int, size: int) -> None:
        """Line ``lineno`` was longer than the runtime accepts and was dropped."""
        self._bad(lineno, f"longer than max_line ({size} bytes), dropped", b"")

    def _hello(self, message: dict[str, Any]) -> str | None:
        if self.hello.done():
            return "a second hello"
        protocol = message.get("protocol", PROTOCOL)
        name = message.get("name", "")
        caps = message.get("capabilities")
        capacity = message.get("capacity")
        version = message.get("version", "")
        if not _is_int(protocol) or protocol < 1:
            return f"hello: protocol must be a positive integer, got {protocol!r}"
        if caps is not None and not (
            isinstance(caps, list) and all(isinstance(c, str) for c in caps)
        ):
            return "hello: capabilities must be a list of strings"
        if capacity is not None and (not _is_int(capacity) or capacity < 1):
            return f"hello: capacity must be a positive integer, got {capacity!r}"
        if not isinstance(name, str) or not isinstance(version, str):
            return "hello: name and version must be strings"
        if protocol > PROTOCOL:
            error = AgentLost(
                f"the agent speaks protocol {protocol}; this orchestrator speaks {PROTOCOL}"
            )
            self.hello.set_exception(error)
            return None
        self.hello.set_result(
            Hello(protocol, name, frozenset(caps) if caps is not None else None, capacity, version)
        )
        return None

    def _heartbeat(self, message: dict[str, Any]) -> str | None:
        metrics = {
            key: float(value)
            for key, value in message.items()
            if key != "type" and isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        self._on_heartbeat(metrics)
        return None

    def _result(self, message: dict[str, Any]) -> str | None:
        task_id = message.get("id")
        if not isinstance(task_id, str):
            return 'result: no string "id"'
        value = self.log.mask_value(message.get("value"))
        self._answered(task_id, lambda future: future.set_result(value))
        return None

    def _error(self, message: dict[str, Any]) -> str | None:
        task_id = message.get("id")
        text = message.get("message")
        retry = message.get("retry", True)
        if not isinstance(text, str) or not isinstance(retry, bool):
            return 'error: needs a string "message" (and "retry" true or false)'
        text = self.log.mask(text)
        if task_id is None:
            self.log.note(f"agent error: {text}")
            log.warning("agent reported an error", agent=self.name, error=text)
            return None
        if not isinstance(task_id, str):
            return 'error: "id" must be a string'
        error = AgentError(text) if retry else alveary.PermanentFailure(text)
        self._answered(task_id, lambda future: future.set_exception(error))
        return None

    def _log(self, message: dict[str, Any]) -> str | None:
        text = message.get("message")
        level = message.get("level", "info")
        task_id = message.get("id")
        if not isinstance(text, str) or not isinstance(level, str):
            return 'log: needs a string "message"'
        where = f" task {task_id}" if isinstance(task_id, str) else ""
        self.log.write(f"[{level}]{where} {text}\n".encode(errors="replace"))
        return None

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
        self.log.note(f"protocol: answer for task {task_id}, which is not running here; ignored")

    def _bad(self, lineno: int, reason: str, line: bytes) -> None:
        self.bad_lines += 1
        self._bad_in_a_row += 1
        excerpt = self.log.mask(line[:120].decode(errors="replace"))
        self.log.note(f"protocol: line {lineno}: {reason}: {excerpt!r}")
        if self.bad_lines <= REPORTED_BAD_LINES:
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def read_lines(
    reader: asyncio.StreamReader,
    max_line: int,
    on_line: Callable[[int, bytes], None],
    on_oversize: Callable[[int, int], None],
) -> int:
    """Split what ``reader`` yields into lines until end of input; a line longer than
    ``max_line`` is dropped (``on_oversize(lineno, size)``) without ever holding more than
    ``max_line`` bytes. Returns the number of lines seen."""
    buffer = bytearray()
    lineno = 0
    dropped = 0
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        start = len(buffer)
        buffer += chunk
        cut = 0
        while True:
            newline = buffer.find(b"\n", max(start, cut))
            if newline < 0:
                break
            lineno += 1
            if dropped:
                on_oversize(lineno, dropped + newline - cut)
                dropped = 0
            elif newline - cut > max_line:
                on_oversize(lineno, newline - cut)
            else:
                on_line(lineno, bytes(buffer[cut:newline]))
            cut = newline + 1
        del buffer[:cut]
        if len(buffer) > max_line:
            dropped += len(buffer)
            buffer.clear()
    if buffer or dropped:
        lineno += 1
        if dropped or len(buffer) > max_line:
            on_oversize(lineno, dropped + len(buffer))
        else:
            on_line(lineno, bytes(buffer))
    return lineno
