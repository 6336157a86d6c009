"""The container's attached standard streams. Without a terminal the engine multiplexes
standard output and error on one stream: each frame is an 8-byte header (stream: 1 output,
2 error; three zero bytes; the payload's size, 4 bytes big-endian) and the payload. An
engine that sends the output raw (no header) is recognised by its first bytes."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

OUT, ERR = 1, 2
_HEADER = 8


class Demux:
    """Cuts what the engine sends into ``(stream, payload)`` pieces, whatever the chunking.
    The first byte decides: a header starts with 0, 1 or 2 and three zero bytes; anything
    else means the stream is raw standard output."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.framed: bool | None = None

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.framed is None:
            self._buffer += data
            if self._buffer[:1] and self._buffer[0] > ERR:
                self.framed = False
            elif len(self._buffer) >= 4:
                self.framed = self._buffer[1:4] == b"\0\0\0"
            else:
                return []  # too little to tell yet
            data, self._buffer = bytes(self._buffer), bytearray()
        if not self.framed:
            return [(OUT, data)] if data else []
        self._buffer += data
        pieces = []
        while len(self._buffer) >= _HEADER:
            stream, size = struct.unpack(">BxxxL", self._buffer[:_HEADER])
            if len(self._buffer) < _HEADER + size:
                break
            payload = bytes(self._buffer[_HEADER : _HEADER + size])
            del self._buffer[: _HEADER + size]
            pieces.append((ERR if stream == ERR else OUT, payload))
        return pieces


async def pump(
    reader: asyncio.StreamReader,
    out: Callable[[bytes], None],
    err: Callable[[bytes], None],
) -> None:
    """Send what the container writes to ``out`` (its standard output) and ``err`` (its
    standard error), until the stream ends or breaks; then ``out(b"")``."""
    demux = Demux()
    while True:
        try:
            chunk = await reader.read(65536)
        except OSError:  # the engine dropped the connection: the same end
            chunk = b""
        if not chunk:
            out(b"")
            return
        for stream, payload in demux.feed(chunk):
            (err if stream == ERR else out)(payload)
