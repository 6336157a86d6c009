"""The protocol's messages and their encoding."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

PROTOCOL = 1
"""The protocol version (``hello.protocol``)."""

MAX_LINE = 8 * 2**20
"""The longest line (one message) either end accepts, in bytes, unless configured."""

FROM_AGENT = frozenset({"hello", "heartbeat", "result", "error", "log"})
TO_AGENT = frozenset({"task", "cancel", "shutdown"})


class _Spec(Protocol):
    """What ``Hello.mismatch`` reads of an ``alveary.AgentSpec``."""

    @property
    def capabilities(self) -> frozenset[str]: ...
    @property
    def capacity(self) -> int: ...


class Hello(NamedTuple):
    """The agent is ready, and says what it is."""

    protocol: int = PROTOCOL
    name: str = ""
    capabilities: frozenset[str] | None = None
    """None when the agent did not say: the config alone decides."""
    capacity: int | None = None
    version: str = ""

    def mismatch(self, spec: _Spec) -> str | None:
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

    def encode(self) -> bytes:
        message: dict[str, Any] = {"type": "hello", "protocol": self.protocol, "name": self.name}
        if self.capacity is not None:
            message["capacity"] = self.capacity
        message["version"] = self.version
        if self.capabilities is not None:
            message["capabilities"] = sorted(self.capabilities)
        return encode(message)


class Heartbeat(NamedTuple):
    """The agent is alive; ``metrics`` are its numbers (``load``, ``context``, ...)."""

    metrics: Mapping[str, float]
    dropped: int = 0
    """Fields left out: not finite, a key too long, or a new key past ``MAX_METRICS``."""

    def encode(self) -> bytes:
        return encode({"type": "heartbeat", **self.metrics})


class Result(NamedTuple):
    """The attempt ``id`` succeeded with ``value``."""

    id: str
    value: Any

    def encode(self) -> bytes:
        """Raises ``TypeError`` or ``ValueError`` when ``value`` is not JSON."""
        return encode({"type": "result", "id": self.id, "value": self.value})


class Error(NamedTuple):
    """The attempt ``id`` failed (``retry``: may run again), or, without an id, the agent
    reports a problem of its own."""

    message: str
    id: str | None = None
    retry: bool = True

    def encode(self) -> bytes:
        message: dict[str, Any] = {"type": "error", "message": self.message, "retry": self.retry}
        if self.id is not None:
            message["id"] = self.id
        return encode(message)


class Log(NamedTuple):
    """A line for the agent's log, about the attempt ``id`` if given."""

    message: str
    level: str = "info"
    id: str | None = None

    def encode(self) -> bytes:
        message: dict[str, Any] = {"type": "log", "message": self.message, "level": self.level}
        if self.id is not None:
            message["id"] = self.id
        return encode(message)


class Task(NamedTuple):
    """Run this: ``id`` names this attempt on this channel, ``task`` the orchestrator's task."""

    id: str
    task: str
    kind: str
    attempt: int = 1
    timeout: float | None = None
    payload: Any = None

    def encode(self) -> bytes:
        """Compact, ``type`` first and ``payload`` last, so that a line-oriented agent (a
        shell script) can cut the payload out verbatim. Raises ``TypeError`` or
        ``ValueError`` when the payload is not JSON."""
        head = _dumps(
            {
                "type": "task",
                "id": self.id,
                "task": self.task,
                "kind": self.kind,
                "attempt": self.attempt,
                "timeout": self.timeout,
            }
        )
        return f'{head[:-1]},"payload":{_dumps(self.payload)}}}\n'.encode()


class Cancel(NamedTuple):
    """Stop the attempt ``id`` and answer it."""

    id: str

    def encode(self) -> bytes:
        return encode({"type": "cancel", "id": self.id})


class Shutdown(NamedTuple):
    """Finish what runs, answer it, and exit."""

    def encode(self) -> bytes:
        return encode({"type": "shutdown"})


class Unknown(NamedTuple):
    """A message type this end does not know, the first time the channel used it."""

    type: str


class Malformed(NamedTuple):
    """A line that breaks the protocol: why, and its first bytes."""

    reason: str
    excerpt: bytes = b""
    type: str | None = None
    """The message type the line claimed, when it named one this end knows."""


Message = Hello | Heartbeat | Result | Error | Log | Task | Cancel | Shutdown | Unknown | Malformed
Received = tuple[int, Message]
"""A message and the number of the line (or frame) it came in, counted from 1."""


def encode(message: Mapping[str, Any]) -> bytes:
    """One compact JSON line. Raises ``TypeError`` or ``ValueError`` when it is not JSON."""
    return (_dumps(message) + "\n").encode()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
