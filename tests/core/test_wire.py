"""``alveary.wire``: framing that survives any chunking and never holds an over-long line,
and checked parsing that turns whatever a peer sends into messages, never an exception."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alveary import wire
from hypothesis import given, settings
from hypothesis import strategies as st


def lines_of(received: list[wire.Received]) -> list[tuple[int, str | None]]:
    return [(n, m.message if isinstance(m, wire.Log) else None) for n, m in received]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=20), st.data())
def test_lines_survive_any_chunking_and_long_ones_are_dropped(texts: list[str], data) -> None:
    lines = [wire.Log(text).encode() for text in texts]
    blob = b"".join(lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=8)))
    chunks = [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=False) if b > a]
    max_line = 60
    decoder = wire.Decoder(wire.FROM_AGENT, max_line)
    received = [item for chunk in chunks for item in decoder.feed(chunk)] + decoder.end()
    expected = [
        (n, text if len(line) - 1 <= max_line else None)
        for n, (text, line) in enumerate(zip(texts, lines, strict=True), 1)
    ]
    assert lines_of(received) == expected
    assert all(
        isinstance(m, wire.Malformed) and m.reason.endswith(f"max_line ({max_line}); dropped")
        for n, m in received
        if dict(expected)[n] is None
    )
    assert len(decoder._buffer) == 0


def test_a_line_without_end_is_held_up_to_max_line_only() -> None:
    decoder = wire.Decoder(wire.FROM_AGENT, 1000)
    for _ in range(100):
        assert decoder.feed(b"x" * 999) == []
        assert len(decoder._buffer) <= 1000
    [(lineno, message)] = decoder.feed(b'\n{"type":"result","id":"a"}\n')[:1]
    assert (lineno, message) == (
        1,
        wire.Malformed("99900 bytes, longer than max_line (1000); dropped"),
    )
    assert decoder.feed(b"") == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"not json", wire.Malformed("not JSON (Expecting value)", b"not json")),
        (b"[1]", wire.Malformed("not a JSON object", b"[1]")),
        (b'{"type": 3}', wire.Malformed('no string "type"', b'{"type": 3}')),
        (b'{"type":"result","id":"a","value":[1]}', wire.Result("a", [1])),
        (b'{"type":"error","message":"m"}', wire.Error("m")),
        (b'{"type":"error","message":"m","retry":"no"}', "error"),
        (b'{"type":"log","message":"m","id":"a"}', wire.Log("m", "info", "a")),
        (b'{"type":"hello","capacity":0}', "hello"),
        (b'{"type":"hello","capabilities":"x"}', "hello"),
        (
            b'{"type":"hello","capabilities":["x"],"version":"1"}',
            wire.Hello(1, "", frozenset("x"), None, "1"),
        ),
        (b'{"type":"task","id":"a"}', wire.Unknown("task")),  # the agent's to receive
    ],
)
def test_decoding_from_an_agent(line: bytes, expected: wire.Message | str) -> None:
    got = wire.Decoder(wire.FROM_AGENT).decode(line)
    if isinstance(expected, str):
        assert isinstance(got, wire.Malformed)
        assert got.type == expected
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b'{"type":"task","id":"a.1","task":"a","kind":"k","attempt":2,"timeout":5,"payload":{}}',
            wire.Task("a.1", "a", "k", 2, 5.0, {}),
        ),
        (b'{"type":"task","id":"a","attempt":"2"}', "task"),
        (b'{"type":"task","id":"a","timeout":NaN}', "task"),
        (b'{"type":"task"}', "task"),
        (b'{"type":"cancel","id":"a"}', wire.Cancel("a")),
        (b'{"type":"shutdown"}', wire.Shutdown()),
        (b'{"type":"result","id":"a"}', wire.Unknown("result")),
    ],
)
def test_decoding_from_the_orchestrator(line: bytes, expected: wire.Message | str) -> None:
    got = wire.Decoder(wire.TO_AGENT).decode(line)
    if isinstance(expected, str):
        assert isinstance(got, wire.Malformed)
        assert got.type == expected
    else:
        assert got == expected


def test_encoding_round_trips_and_refuses_what_is_not_json() -> None:
    task = wire.Task("a.1", "a", "k", 1, None, {"x": [1, "y"]})
    line = task.encode()
    assert line.startswith(b'{"type":"task","id":"a.1"')
    assert line.endswith(b',"payload":{"x":[1,"y"]}}\n')
    assert wire.Decoder(wire.TO_AGENT).frame(line) == [(1, task)]
    for message in (
        wire.Hello(1, "n", frozenset({"b", "a"}), 2, "v"),
        wire.Error("m", "a", retry=False),
    ):
        assert wire.Decoder(wire.FROM_AGENT).frame(message.encode()) == [(1, message)]
    assert json.loads(wire.Shutdown().encode()) == {"type": "shutdown"}
    with pytest.raises(ValueError, match="not JSON compliant"):
        wire.Result("a", float("nan")).encode()
    with pytest.raises(TypeError):
        wire.Task("a", "a", "k", payload=object()).encode()


def test_what_a_peer_controls_is_bounded() -> None:
    decoder = wire.Decoder(wire.FROM_AGENT)
    found = [decoder.decode(b'{"type":"t%d"}' % i) for i in range(1000)]
    assert [m for m in found if m is not None] == [wire.Unknown(f"t{i}") for i in range(8)]
    assert decoder.unknown == 1000
    beat = decoder.decode(
        json.dumps(
            {"type": "heartbeat", "a": float("nan"), "b": True, "k" * 65: 1, "c": 1}
        ).encode()
    )
    assert beat == wire.Heartbeat({"c": 1.0}, dropped=3)
    for i in range(100):
        decoder.decode(json.dumps({"type": "heartbeat", f"m{i}": 0.5}).encode())
    assert len(decoder.metric_keys) == wire.MAX_METRICS
    error = decoder.decode(json.dumps({"type": "error", "message": "e" * 10**6}).encode())
    assert isinstance(error, wire.Error)
    assert len(error.message) < wire.MAX_TEXT + 50


PAGE = Path(__file__).resolve().parents[2] / "docs" / "agent-protocol.md"
EXAMPLE = re.compile(r"```python\n((?:(?!```).)*)```\n\n```text\n((?:(?!```).)*)```", re.S)


def test_the_protocol_page_example_prints_what_it_says() -> None:
    [(code, printed)] = EXAMPLE.findall(PAGE.read_text(encoding="utf-8"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == printed
