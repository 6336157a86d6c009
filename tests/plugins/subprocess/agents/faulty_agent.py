"""A protocol agent written by hand that misbehaves as its first argument says."""

from __future__ import annotations

import json
import os
import sys
import time

MODE = sys.argv[1]
out = sys.stdout


def send(message: dict) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


if MODE == "exit":  # dies before saying hello
    print("fatal: cannot open the model file", file=sys.stderr, flush=True)
    sys.exit(7)
if MODE == "silent":  # never says hello
    time.sleep(3600)
hello = {"type": "hello", "protocol": 1, "name": MODE, "capabilities": ["work"], "capacity": 1}
if MODE == "future":
    hello["protocol"] = 2
send(hello)

for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "shutdown":
        break
    if message["type"] != "task":
        continue
    task_id, attempt = message["id"], message["attempt"]
    if MODE == "crash" or (MODE == "crash-first" and attempt == 1):
        print(f"segfault while working on {task_id}", file=sys.stderr, flush=True)
        os._exit(3)
    if MODE == "hang":  # takes the task, never answers, ignores cancel
        continue
    if MODE == "garbage":
        out.write('this is not json\n[1, 2, 3]\n{"no": "type"}\n{"type": "gossip"}\n')
        out.write('{"type": "result"}\n')
        out.flush()
    if MODE == "garbage-only":
        while True:
            out.write("garbage garbage garbage\n")
            out.flush()
    if MODE == "flood":  # one line far longer than max_line, then a proper answer
        out.write("x" * 300_000 + "\n")
        out.flush()
    send({"type": "result", "id": task_id, "value": {"mode": MODE, "attempt": attempt}})
