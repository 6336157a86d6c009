"""Live events for ``GET /v1/events``: one reader of ``orchestrator.events()`` keeps each
event (encoded once, when first sent) in a ring that every subscriber reads from at its own
position (and that serves ``Last-Event-ID``), and drops a subscriber that falls behind instead
of waiting for it.

An event costs the reader one append, not work for every subscriber: waiting subscribers are
woken together at most every ``FLUSH_EVERY`` seconds, and each writes all that came since its
last write at once."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable
from itertools import islice

import msgspec
from alveary import Event, Host


def frame(type: str, data: object, seq: int | None = None) -> bytes:
    """One Server-Sent Event: ``id`` (the event's ``seq``), ``event`` and a JSON ``data``
    (strict JSON: NaN and infinities are null, what JSON has no type for is its ``str``)."""
    head = b"id: %d\n" % seq if seq is not None else b""
    body = msgspec.json.encode(data, enc_hook=str)
    return b"%sevent: %s\ndata: %s\n\n" % (head, type.encode(), body)


class Entry:
    """An event in the ring, encoded the first time a subscriber needs it: with nobody
    listening, an event costs no JSON."""

    __slots__ = ("_event", "_frame", "seq", "type")

    def __init__(self, event: Event) -> None:
        self.seq, self.type = event.seq, event.type
        self._event: Event | None = event
        self._frame = b""

    @property
    def frame(self) -> bytes:
        if self._event is not None:
            event, self._event = self._event, None
            data = {
                "type": event.type,
                "time": event.time,
                "seq": event.seq,
                "task_id": event.task_id,
                "agent_id": event.agent_id,
                "data": dict(event.data),
            }
            self._frame = frame(event.type, data, event.seq)
        return self._frame


REPLAYED = b": replayed\n\n"
"""A comment after the events replayed for ``Last-Event-ID`` (none without it): what came
before it was already there when the client subscribed, what follows is live. SSE clients
ignore comments; ``alveary events`` stops here unless it follows."""


def matches(wanted: frozenset[str], type: str) -> bool:
    """Whether a ``type`` filter lets an event through: exact types, or ``task.*``."""
    if not wanted or type in wanted:
        return True
    return any(w.endswith(".*") and type.startswith(w[:-1]) for w in wanted)


FLUSH_EVERY = 0.02
"""Seconds between two wake-ups of the waiting subscribers. An event reaches them at most
this much later, and 100 subscribers cost 100 writes per interval instead of 100 for each
turn of the event loop that brought events: under load, most of the fan-out's cost."""

LAG_CHECK = 256
"""Events between two looks for subscribers that fell too far behind (fewer if the buffer
is smaller)."""


class Subscriber:
    """One ``/v1/events`` client: its position in the ring and its type filter."""

    __slots__ = ("dropped", "joined", "position", "sending", "types", "wake")

    def __init__(self, types: frozenset[str], position: int, joined: int) -> None:
        self.types = types
        self.position = position
        """Index (counted since start) of the next event to send."""
        self.joined = joined
        """Events before this index are a replay, not counted as falling behind."""
        self.wake = asyncio.Event()
        self.dropped: str | None = None
        self.sending = False
        """Between handing a chunk to the server and getting control back: a client that
        does not read keeps it here, and only then can it fall behind."""

    def behind(self, count: int) -> int:
        return count - max(self.position, self.joined)


class Hub:
    """Every subscriber, and the ring of the latest events."""

    def __init__(self, host: Host, buffer: int, replay: int) -> None:
        self._host = host
        self._buffer = buffer
        self._replay = replay
        self._check = min(LAG_CHECK, buffer)
        self._ring: deque[Entry] = deque(maxlen=replay + buffer + self._check)
        self._count = 0
        """Events appended since start; the ring holds the last ``len(ring)`` of them."""
        self._joined: tuple[int, int, bytes] = (0, 0, b"")
        """The last chunk made for an unfiltered subscriber: from, to, frames."""
        self._subscribers: set[Subscriber] = set()
        self._waiting: set[Subscriber] = set()
        """Subscribers that sent all they had, waiting for more."""
        self._flush: asyncio.TimerHandle | None = None
        """The wake-up of the waiting subscribers, once events came for them."""
        self._flush_from = 0
        """The count when it was scheduled: half a buffer later, they are woken at once."""
        self.dropped = 0
        """Subscribers dropped for falling behind, since start."""
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = loop.create_future()
        """Done once ``close`` ran: long polls wait on it beside their task, to answer at
        once rather than be cut off when the server stops."""
        self._reader = loop.create_task(self._read(), name="gateway-events")

    async def _read(self) -> None:
        async for event in self._host.events():
            self._ring.append(Entry(event))
            self._count += 1
            if self._waiting:
                if self._flush is None:
                    self._flush_from = self._count
                    self._flush = asyncio.get_running_loop().call_later(FLUSH_EVERY, self._wake)
                elif (self._count - self._flush_from) * 2 >= self._buffer:
                    self._wake()
            if self._count % self._check == 0 and self._subscribers:
                self._drop_laggards()

    def _wake(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        for subscriber in self._waiting:
            subscriber.wake.set()
        self._waiting.clear()

    def _drop_laggards(self) -> None:
        for subscriber in list(self._subscribers):
            if subscriber.sending and subscriber.behind(self._count) > self._buffer:
                subscriber.dropped = f"fell {self._buffer} events behind; resume with Last-Event-ID"
                subscriber.wake.set()
                self._subscribers.discard(subscriber)
                self.dropped += 1
                self._host.emit("gateway.dropped", data={"reason": subscriber.dropped})

    def close(self) -> None:
        """End every stream and long poll (the orchestrator is stopping)."""
        if not self.closed.done():
            self.closed.set_result(None)
        self._reader.cancel()
        if self._flush is not None:
            self._flush.cancel()
        for subscriber in self._subscribers:
            subscriber.dropped = "the orchestrator is stopping"
            subscriber.wake.set()
        self._subscribers.clear()

    def _start(self, after: int | None) -> int:
        """Where a subscriber resuming after seq ``after`` starts: the oldest replayable event
        newer than it (live events only without ``after``)."""
        newer = 0
        if after is not None:
            for entry in islice(reversed(self._ring), min(len(self._ring), self._replay)):
                if entry.seq <= after:
                    break
                newer += 1
        return self._count - newer

    def _take(self, subscriber: Subscriber) -> bytes:
        """Everything the subscriber has not had yet, as one chunk (a gap frame first if
        some of it left the ring)."""
        first = self._count - len(self._ring)
        gap = b""
        if subscriber.position < first:
            oldest = self._ring[0].seq
            gap = frame("gateway.gap", {"after": oldest - 1, "oldest": oldest})
            subscriber.position = first
        start, subscriber.position = subscriber.position, self._count
        if not subscriber.types and self._joined[:2] == (start, self._count):
            return gap + self._joined[2]  # subscribers in step share one chunk
        # The newest entries, walked from the right end: indexing a deque is linear.
        news = list(islice(reversed(self._ring), self._count - start))
        news.reverse()
        if subscriber.types:
            wanted = subscriber.types
            return gap + b"".join([e.frame for e in news if matches(wanted, e.type)])
        self._joined = (start, self._count, b"".join([e.frame for e in news]))
        return gap + self._joined[2]

    async def stream(self, types: Iterable[str], after: int | None) -> AsyncIterator[bytes]:
        """The frames of one subscriber: those after ``after`` still in the ring, the
        ``REPLAYED`` comment, then live ones, then a final ``gateway.dropped`` if it is
        dropped."""
        subscriber = Subscriber(frozenset(types), self._start(after), self._count)
        head = b": subscribed\n\n"
        if after is not None and self._ring:
            oldest = self._ring[-min(len(self._ring), self._replay)].seq
            if oldest > after + 1:
                head += frame("gateway.gap", {"after": after, "oldest": oldest})
        # What is in the ring now is the replay, taken before anything can arrive after it.
        replayed = self._take(subscriber) if subscriber.position < self._count else b""
        self._subscribers.add(subscriber)
        try:
            subscriber.sending = True
            yield head + replayed + REPLAYED
            subscriber.sending = False
            while subscriber.dropped is None:
                if subscriber.position < self._count:
                    chunk = self._take(subscriber)
                    if chunk:
                        subscriber.sending = True
                        yield chunk
                        subscriber.sending = False
                    continue
                subscriber.wake.clear()
                self._waiting.add(subscriber)
                await subscriber.wake.wait()
            yield frame("gateway.dropped", {"reason": subscriber.dropped})
        finally:
            self._subscribers.discard(subscriber)
            self._waiting.discard(subscriber)
