"""Container agents that misbehave as their first argument says."""

from __future__ import annotations

import os
import sys
import time

MODE = sys.argv[1]

if MODE == "silent":  # never says hello
    print("thinking about it", file=sys.stderr, flush=True)
    time.sleep(3600)
elif MODE == "exit":  # dies at once
    print("fatal: no model in this image", file=sys.stderr, flush=True)
    sys.exit(7)
elif MODE == "flood":  # garbage on the protocol channel, forever
    junk = os.urandom(4096) + b"\n{not json\n" + b"x" * 70000 + b"\n"
    while True:
        sys.stdout.buffer.write(junk)
        sys.stdout.buffer.flush()
