"""A protocol agent (capacity 2) whose slow first attempt starts a helper in a session of its
own that inherits its output, as a daemonised tool would: when the agent dies, its output stays
open (the helper's pid goes to the file named by the first argument, for the test to end it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PID_FILE = sys.argv[1]
NAME = os.environ["ALVEARY_AGENT"]


def send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


send({"type": "hello", "protocol": 1, "capabilities": ["work"], "capacity": 2})
for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "shutdown":
        break
    if message["type"] != "task":
        continue
    if message["payload"] == "slow" and message["attempt"] == 1:
        helper = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        with open(PID_FILE + ".tmp", "w") as file:
            file.write(str(helper.pid))
        os.replace(PID_FILE + ".tmp", PID_FILE)
        continue  # works on it until killed
    send({"type": "result", "id": message["id"], "value": [NAME, message["attempt"]]})
