"""Kernel memory per agent (tracemalloc) and process RSS with a fleet registered.

Each measurement runs in a fresh interpreter (``python _memory.py rss|tracemalloc N`` prints
JSON), so that neither the other benchmarks' heap nor tracemalloc's own overhead is counted.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any


def _rss() -> tuple[int, str]:
    """The process's resident set size in bytes, and how it was read.

    psutil if installed; else ``/proc/self/statm`` on Linux; else the peak from
    ``getrusage``. On Linux the peak is no good in a child process: it keeps the parent's
    high-water mark across ``exec``.
    """
    try:
        import psutil
    except ImportError:
        pass
    else:
        return psutil.Process().memory_info().rss, "psutil rss"
    statm = Path("/proc/self/statm")
    if statm.exists():
        pages = int(statm.read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE"), "/proc/self/statm rss"
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return peak * scale, "resource.getrusage maxrss (peak)"


async def _rss_probe(count: int) -> dict[str, Any]:
    from _kernel import agent_specs, orchestrator, register

    specs = agent_specs(count)
    async with orchestrator("builtins") as orch:
        gc.collect()
        before, source = _rss()
        await register(orch, specs)
        gc.collect()
        after, _ = _rss()
    return {"agents": count, "rss_bytes": after, "before_bytes": before, "source": source}


async def _tracemalloc_probe(count: int) -> dict[str, Any]:
    from _kernel import agent_specs, orchestrator

    spec_bytes = _spec_bytes(count)
    specs = agent_specs(count)
    async with orchestrator("builtins") as orch:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for spec in specs:
            await orch.register(spec)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "filename")
    total = sum(stat.size_diff for stat in diff)
    by_file = sorted(
        ((_short(stat.traceback[0].filename), stat.size_diff) for stat in diff),
        key=lambda pair: -pair[1],
    )
    return {
        "agents": count,
        "bytes": total,
        "bytes_per_agent": total / count,
        "spec_bytes_per_agent": spec_bytes / count,
        "top_files": [{"file": f, "bytes_per_agent": b / count} for f, b in by_file[:6]],
    }


def _spec_bytes(count: int) -> int:
    """What the caller's ``AgentSpec`` objects take (not counted as kernel memory)."""
    from _kernel import agent_specs

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    specs = agent_specs(count)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del specs
    return size


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for anchor in ("alveary", "asyncio", "attr", "structlog", "pluggy"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) :])
    return Path(filename).name


def measure(kind: str, count: int) -> dict[str, Any]:
    """Run one probe (``rss`` or ``tracemalloc``) in a fresh interpreter."""
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "_memory.py"),
            kind,
            str(count),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {kind} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main(argv: list[str]) -> None:
    kind, count = argv[0], int(argv[1])
    probe = {"rss": _rss_probe, "tracemalloc": _tracemalloc_probe}[kind]
    print(json.dumps(asyncio.run(probe(count))))


if __name__ == "__main__":
    main(sys.argv[1:])
