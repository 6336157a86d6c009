"""The live view on stderr: one line rewritten in place on a terminal, else a line every few
seconds (a CI log)."""

from __future__ import annotations

import asyncio
from typing import TextIO

from ._measure import Recorder, percentile

RECENT = 200
"""Latest tasks the progress line's p95 is taken over."""


def line(rec: Recorder) -> str:
    """What the run is doing now, in one line."""
    done = rec.samples
    recent = [s.latency * 1000 for s in done[-RECENT:] if s.ok and s.latency is not None]
    p95 = f"{percentile(recent, 95):.0f} ms" if recent else "-"
    elapsed = rec.now()
    finished = [s for s in done[-RECENT:] if s.finished is not None]
    span = elapsed - min((s.submitted + (s.latency or 0) for s in finished), default=elapsed)
    rate = len(finished) / span if span > 0 else 0.0
    return (
        f"{rec.phase:<11} {elapsed:6.1f}s  agents {rec.agents}  submitted {rec.submitted}  "
        f"done {len(done)}  failed {rec.failed}  in flight {rec.in_flight}  "
        f"{rate:.0f}/s  p95 {p95}"
    )


async def show(rec: Recorder, out: TextIO, every: float) -> None:
    """Write the progress line until cancelled: in place every quarter second on a
    terminal, else a line every ``every`` seconds."""
    tty = out.isatty()
    try:
        while True:
            await asyncio.sleep(0.25 if tty else every)
            if tty:
                out.write(f"\r\x1b[K{line(rec)}")
            else:
                out.write(f"{line(rec)}\n")
            out.flush()
    finally:
        if tty:
            out.write(f"\r\x1b[K{line(rec)}\n")
            out.flush()
