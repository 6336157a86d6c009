"""A protocol agent that attacks the orchestrator's memory or patience, as its first argument
says, then answers the task properly (so a test can tell that the orchestrator went on)."""

from __future__ import annotations

import json
import os
import sys
import time

MODE = sys.argv[1]
MARK = sys.argv[2] if len(sys.argv) > 2 else ""
out = sys.stdout.buffer


def send(message: dict) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def close_output_and_hang() -> None:
    out.flush()
    os.close(1)  # the channel is gone, the process is not
    time.sleep(3600)


hello = {"type": "hello", "protocol": 1, "name": MODE, "capabilities": ["work"], "capacity": 1}
if MODE == "lying-hello":
    hello["capacity"] = -1
if MODE == "close-before-hello":
    close_output_and_hang()
send(hello)
first = MARK and not os.path.exists(MARK)  # the first agent misbehaves, its replacement not
if first:
    open(MARK, "w").close()
if MODE == "close-output" and first:
    close_output_and_hang()

for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "shutdown":
        break
    if message["type"] != "task":
        continue
    count = message["payload"] or 0
    if MODE == "unknown-types":  # a new message type on every line
        for start in range(0, count, 10_000):
            out.write(b"".join(b'{"type":"t%d"}\n' % i for i in range(start, start + 10_000)))
    if MODE == "metric-keys":  # a heartbeat with new keys on every line, and bad values
        for start in range(0, count, 1_000):
            keys = ",".join(f'"k{i}":0.5' for i in range(start, start + 1_000))
            out.write(f'{{"type":"heartbeat","load":NaN,"x":Infinity,{keys}}}\n'.encode())
        send({"type": "heartbeat", "context": 0.25, "k" * 100: 1.0})
    if MODE == "huge-line":  # one line of `count` bytes, written in pieces
        piece = b"x" * 2**20
        for _ in range(count // len(piece)):
            out.write(piece)
        out.write(b"\n")
    if MODE == "long-logs":  # log and error lines of `count` characters each
        send({"type": "log", "message": "L" * count, "level": "info" * 100})
        send({"type": "error", "message": "E" * count})
    out.flush()
    value = {"mode": MODE, "attempt": message["attempt"], "name": os.environ["ALVEARY_AGENT"]}
    send({"type": "result", "id": message["id"], "value": value})
