"""The attached stream's framing: 8-byte headers cut anywhere, or raw output."""

from __future__ import annotations

import struct

from alveary_container._stream import ERR, OUT, Demux
from hypothesis import given
from hypothesis import strategies as st

FRAMES = st.lists(st.tuples(st.sampled_from([OUT, ERR]), st.binary(min_size=1, max_size=300)))


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def joined(pieces: list[tuple[int, bytes]], stream: int) -> bytes:
    return b"".join(p for s, p in pieces if s == stream)


@given(FRAMES, st.lists(st.integers(1, 50), min_size=1))
def test_frames_cut_anywhere_come_out_whole(frames, cuts) -> None:
    data = b"".join(frame(s, p) for s, p in frames)
    demux, pieces, at, i = Demux(), [], 0, 0
    while at < len(data):
        step = cuts[i % len(cuts)]
        pieces += demux.feed(data[at : at + step])
        at, i = at + step, i + 1
    for stream in (OUT, ERR):
        assert joined(pieces, stream) == b"".join(p for s, p in frames if s == stream)


@given(st.binary(min_size=1).filter(lambda b: b[0] > ERR), st.integers(1, 7))
def test_raw_output_passes_through(data, cut) -> None:
    demux = Demux()
    pieces = demux.feed(data[:cut]) + demux.feed(data[cut:])
    assert demux.framed is False
    assert joined(pieces, OUT) == data


def test_a_protocol_line_is_raw_and_a_header_is_framed() -> None:
    raw = Demux()
    assert raw.feed(b'{"type": "hello"}\n') == [(OUT, b'{"type": "hello"}\n')]
    framed = Demux()
    assert framed.feed(b"\x01\x00") == []  # too little to tell
    assert framed.feed(b"\x00\x00\x00\x00\x00\x02ok") == [(OUT, b"ok")]
    assert framed.framed is True
