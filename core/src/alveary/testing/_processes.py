"""Whether a process still runs: for tests that a runtime or a command left nothing behind."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while process ``pid`` runs. A zombie (exited, not yet reaped) counts as gone: init
    reaps it once its parent dies. Reads ``/proc`` for that, where there is one."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # gone meanwhile; or no /proc at all, and os.kill found it
        return not os.path.isdir("/proc")
