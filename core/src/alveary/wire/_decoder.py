"""Bytes in, messages out: bounded line framing and checked parsing, for either end."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from ._messages import (
    MAX_LINE,
    PROTOCOL,
    Cancel,
    Error,
    Heartbeat,
    Hello,
    Log,
    Malformed,
    Message,
    Received,
    Result,
    Shutdown,
    Task,
    Unknown,
)

MAX_TEXT = 16 * 2**10
"""The longest ``message`` of a ``log`` or ``error`` kept, in characters; the rest is cut."""

MAX_NAME = 64
"""The longest metric key or message type name kept, in characters."""

MAX_METRICS = 32
"""Distinct heartbeat metric keys accepted per channel; later new keys are dropped."""

MAX_UNKNOWN_TYPES = 8
"""Distinct unknown message type names remembered per channel; later ones are only counted."""


class Decoder:
    """Bytes in, messages out, for one channel: bounded line framing, then each line parsed
    and checked. ``receives`` names the message types this end takes (``FROM_AGENT`` in a
    runtime, ``TO_AGENT`` in an agent); any other type is ``Unknown``.

    A stream transport (a pipe, a FIFO, a socket) calls ``feed`` with each chunk and ``end``
    at end of input; a message transport (WebSocket) calls ``frame`` with each message.
    Nothing a peer sends raises: what breaks the protocol is a ``Malformed`` message. A line
    longer than ``max_line`` is dropped as it arrives, never held whole.
    """

    def __init__(self, receives: frozenset[str], max_line: int = MAX_LINE) -> None:
        self.receives = receives
        self.max_line = max_line
        self.lineno = 0
        self.unknown = 0
        """Messages of an unknown type so far."""
        self.unknown_types: set[str] = set()
        """The first ``MAX_UNKNOWN_TYPES`` unknown type names (cut to ``MAX_NAME``)."""
        self.metric_keys: set[str] = set()
        self._buffer = bytearray()
        self._dropped = 0  # bytes of an over-long line seen so far, not kept

    def feed(self, data: bytes) -> list[Received]:
        """The messages completed by ``data``, the next bytes of the stream."""
        received: list[Received] = []
        buffer = self._buffer
        start = len(buffer)
        buffer += data
        cut = 0
        newline = buffer.find(b"\n", start)
        while newline >= 0:
            self._take(received, buffer, cut, newline)
            cut = newline + 1
            newline = buffer.find(b"\n", cut)
        del buffer[:cut]
        if len(buffer) > self.max_line:
            self._dropped += len(buffer)
            buffer.clear()
        return received

    def end(self) -> list[Received]:
        """At end of input: the last line, if it had no newline."""
        received: list[Received] = []
        if self._buffer or self._dropped:
            self._take(received, self._buffer, 0, len(self._buffer))
            self._buffer.clear()
        return received

    def frame(self, data: bytes) -> list[Received]:
        """One whole message (a WebSocket frame), newline or not."""
        received: list[Received] = []
        self._take(received, data, 0, len(data))
        return received

    def _take(self, into: list[Received], buffer: bytes | bytearray, cut: int, stop: int) -> None:
        self.lineno += 1
        size = self._dropped + stop - cut
        self._dropped = 0
        if size > self.max_line:
            reason = f"{size} bytes, longer than max_line ({self.max_line}); dropped"
            into.append((self.lineno, Malformed(reason)))
            return
        line = bytes(buffer[cut:stop])
        if line.strip():
            message = self.decode(line)
            if message is not None:
                into.append((self.lineno, message))

    def decode(self, line: bytes) -> Message | None:
        """One line's message; None for an unknown type seen before (only counted)."""
        try:
            body = json.loads(line)
        except ValueError as exc:
            return Malformed(f"not JSON ({getattr(exc, 'msg', exc)})", line[:120])
        if not isinstance(body, dict):
            return Malformed("not a JSON object", line[:120])
        kind = body.get("type")
        if not isinstance(kind, str):
            return Malformed('no string "type"', line[:120])
        if kind not in self.receives:
            return self._unknown(kind)
        problem_or_message = _PARSERS[kind](self, body)
        if isinstance(problem_or_message, str):
            return Malformed(problem_or_message, line[:120], kind)
        return problem_or_message

    def _unknown(self, kind: str) -> Unknown | None:
        self.unknown += 1
        name = kind[:MAX_NAME]
        if name in self.unknown_types or len(self.unknown_types) >= MAX_UNKNOWN_TYPES:
            return None
        self.unknown_types.add(name)
        return Unknown(name)

    def _metrics(self, body: dict[str, Any]) -> Heartbeat:
        metrics: dict[str, float] = {}
        dropped = 0
        keys = self.metric_keys
        for key, value in body.items():
            if key == "type":
                continue
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
                and len(key) <= MAX_NAME
                and (key in keys or len(keys) < MAX_METRICS)
            ):
                keys.add(key)
                metrics[key] = float(value)
            else:
                dropped += 1
        return Heartbeat(metrics, dropped)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_id(body: dict[str, Any]) -> tuple[bool, str | None]:
    task_id = body.get("id")
    return task_id is None or isinstance(task_id, str), task_id


def _cut(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}... ({len(text) - MAX_TEXT} more characters cut)"


def _hello(_: Decoder, body: dict[str, Any]) -> Hello | str:
    protocol = body.get("protocol", PROTOCOL)
    name, version = body.get("name", ""), body.get("version", "")
    caps, capacity = body.get("capabilities"), body.get("capacity")
    if not _is_int(protocol) or protocol < 1:
        return f"hello: protocol must be a positive integer, got {protocol!r:.40}"
    if caps is not None and not (isinstance(caps, list) and all(isinstance(c, str) for c in caps)):
        return "hello: capabilities must be a list of strings"
    if capacity is not None and (not _is_int(capacity) or capacity < 1):
        return f"hello: capacity must be a positive integer, got {capacity!r:.40}"
    if not isinstance(name, str) or not isinstance(version, str):
        return "hello: name and version must be strings"
    return Hello(
        protocol,
        name[:MAX_NAME],
        frozenset(caps) if caps is not None else None,
        capacity,
        version[:MAX_NAME],
    )


def _result(_: Decoder, body: dict[str, Any]) -> Result | str:
    task_id = body.get("id")
    if not isinstance(task_id, str):
        return 'result: no string "id"'
    return Result(task_id, body.get("value"))


def _error(_: Decoder, body: dict[str, Any]) -> Error | str:
    text, retry = body.get("message"), body.get("retry", True)
    if not isinstance(text, str) or not isinstance(retry, bool):
        return 'error: needs a string "message" (and "retry" true or false)'
    good, task_id = _optional_id(body)
    if not good:
        return 'error: "id" must be a string'
    return Error(_cut(text), task_id, retry)


def _log(_: Decoder, body: dict[str, Any]) -> Log | str:
    text, level = body.get("message"), body.get("level", "info")
    if not isinstance(text, str) or not isinstance(level, str):
        return 'log: needs a string "message"'
    good, task_id = _optional_id(body)
    return Log(_cut(text), level[:16], task_id if good else None)


def _task(_: Decoder, body: dict[str, Any]) -> Task | str:
    task_id, kind = body.get("id"), body.get("kind", "")
    attempt, timeout = body.get("attempt", 1), body.get("timeout")
    if not isinstance(task_id, str):
        return 'task: no string "id"'
    if not isinstance(kind, str) or not _is_int(attempt):
        return 'task: "kind" must be a string and "attempt" an integer'
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        return 'task: "timeout" must be a positive number'
    task = body.get("task")
    return Task(
        task_id,
        task if isinstance(task, str) else task_id,
        kind,
        attempt,
        None if timeout is None else float(timeout),
        body.get("payload"),
    )


def _cancel(_: Decoder, body: dict[str, Any]) -> Cancel | str:
    task_id = body.get("id")
    return Cancel(task_id) if isinstance(task_id, str) else 'cancel: no string "id"'


_PARSERS: dict[str, Callable[[Decoder, dict[str, Any]], Message | str]] = {
    "hello": _hello,
    "heartbeat": Decoder._metrics,
    "result": _result,
    "error": _error,
    "log": _log,
    "task": _task,
    "cancel": _cancel,
    "shutdown": lambda decoder, body: Shutdown(),
}
