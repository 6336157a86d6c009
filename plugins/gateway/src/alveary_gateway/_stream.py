"""Live events for ``GET /v1/events``: one reader of ``orchestrator.events()`` fans each
event out to every subscriber, keeps the latest in a ring for ``Last-Event-ID``, and drops a
subscriber that falls behind instead of waiting for it."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Iterable

from alveary import Event, Host


def frame(type: str, data: object, seq: int | None = None) -> bytes:
    """One Server-Sent Event: ``id`` (the event's ``seq``), ``event`` and a JSON ``data``."""
    head = f"id: {seq}\n" if seq is not None else ""
    body = json.dumps(data, default=str, separators=(",", ":"))
    return f"{head}event: {type}\ndata: {body}\n\n".encode()


def _encode(event: Event) -> bytes:
    data = {
        "type": event.type,
        "time": event.time,
        "seq": event.seq,
        "task_id": event.task_id,
        "agent_id": event.agent_id,
        "data": dict(event.data),
    }
    return frame(event.type, data, event.seq)


REPLAYED = b": replayed\n\n"
"""A comment after the events replayed for ``Last-Event-ID`` (none without it): what came
before it was already there when the client subscribed, what follows is live. SSE clients
ignore comments; ``alveary events`` stops here unless it follows."""


def matches(wanted: frozenset[str], type: str) -> bool:
    """Whether a ``type`` filter lets an event through: exact types, or ``task.*``."""
    if not wanted or type in wanted:
        return True
    return any(w.endswith(".*") and type.startswith(w[:-1]) for w in wanted)


class Subscriber:
    """One ``/v1/events`` client: its pending frames, at most ``limit`` of them."""

    __slots__ = ("dropped", "limit", "pending", "types", "wake")

    def __init__(self, types: frozenset[str], limit: int) -> None:
        self.types = types
        self.limit = limit
        self.pending: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.dropped: str | None = None

    def offer(self, type: str, encoded: bytes) -> bool:
        """Queue a frame; False once the client is too far behind (and then dropped)."""
        if not matches(self.types, type):
            return True
        if len(self.pending) >= self.limit:
            self.drop(f"fell {self.limit} events behind; resume with Last-Event-ID")
            return False
        self.pending.append(encoded)
        self.wake.set()
        return True

    def drop(self, reason: str) -> None:
        self.pending.clear()
        self.dropped = reason
        self.wake.set()


class Hub:
    """Every subscriber, and the ring of the latest events."""

    def __init__(self, host: Host, buffer: int, replay: int) -> None:
        self._host = host
        self._buffer = buffer
        self._ring: deque[tuple[int, str, bytes]] = deque(maxlen=replay)
        self._subscribers: set[Subscriber] = set()
        self.dropped = 0
        """Subscribers dropped for falling behind, since start."""
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="gateway-events")

    async def _read(self) -> None:
        async for event in self._host.events():
            encoded = _encode(event)
            self._ring.append((event.seq, event.type, encoded))
            for subscriber in list(self._subscribers):
                if not subscriber.offer(event.type, encoded):
                    self._subscribers.discard(subscriber)
                    self.dropped += 1
                    self._host.emit("gateway.dropped", data={"reason": subscriber.dropped})

    def close(self) -> None:
        """End every stream (the orchestrator is stopping)."""
        self._reader.cancel()
        for subscriber in self._subscribers:
            subscriber.drop("the orchestrator is stopping")
        self._subscribers.clear()

    async def stream(self, types: Iterable[str], after: int | None) -> AsyncIterator[bytes]:
        """The frames of one subscriber: those after ``after`` still in the ring, the
        ``REPLAYED`` comment, then live ones, then a final ``gateway.dropped`` if it is
        dropped."""
        subscriber = Subscriber(frozenset(types), self._buffer)
        backlog: list[bytes] = []
        if after is not None and self._ring and self._ring[0][0] > after + 1:
            backlog.append(frame("gateway.gap", {"after": after, "oldest": self._ring[0][0]}))
        if after is not None:
            backlog += [
                e for seq, t, e in self._ring if seq > after and matches(subscriber.types, t)
            ]
        self._subscribers.add(subscriber)  # with the snapshot above: no event missed or repeated
        try:
            yield b": subscribed\n\n"
            for encoded in backlog:
                yield encoded
            yield REPLAYED
            while True:
                await subscriber.wake.wait()
                subscriber.wake.clear()
                while subscriber.pending:
                    yield subscriber.pending.popleft()
                if subscriber.dropped is not None:
                    yield frame("gateway.dropped", {"reason": subscriber.dropped})
                    return
        finally:
            self._subscribers.discard(subscriber)
