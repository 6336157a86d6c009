"""The demo's run: a real workload on embedded defaults.

Three pools of local agents hash, compress and analyse the files under a directory; some
attempts fail or get stuck on purpose, so retries, timeouts and dead tasks show. When the
``subprocess`` plugin is installed and ``wc`` is on PATH, a fourth pool counts the files' lines,
words and bytes by running ``wc`` once per task as a child process. It prints the config it
runs, a progress bar and a summary, writes every event to a JSON-lines file, and exits 0 when
every submitted task reached exactly one terminal state, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from alveary import Orchestrator, TaskHandle, TaskSpec

from . import _toml as toml
from . import _workload as workload
from ._stats import EventStats, Progress, follow
from ._summary import LABEL, render

EVENTS = "alveary-demo-events.jsonl"
"""Where the event log goes by default; never one of the files the agents work on."""


async def demo(
    tasks: int = 600,
    events: str = EVENTS,
    path: str = ".",
    *,
    timeout: float = 1.5,
    records: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the demo: ``tasks`` tasks on the files under ``path``, the event log to ``events``;
    ``timeout`` is the analysers' per-attempt timeout (stuck attempts last that long). With
    alveary-state installed the task records go to an SQLite file in ``records`` (a
    directory), or in a temporary one removed at the end.
    Returns the exit status: 0, 1 if a task did not end in one terminal state, 2 on bad
    arguments."""
    out = out or sys.stdout
    problem = _check(tasks, timeout, path, records)
    if problem:
        print(f"alveary demo: {problem}", file=sys.stderr)
        return 2
    log_path = Path(events)
    root = path
    files = workload.find_files(Path(path), exclude=[log_path, Path(path, EVENTS)])
    if len(files) < workload.MIN_FILES:
        root = str(workload.package_dir())
        print(f"only {len(files)} files under {path}: using the alveary package's own", file=out)
        files = workload.find_files(Path(root), exclude=[log_path])
    left_out = workload.tool_missing()
    tools: contextlib.AbstractContextManager[str | None] = contextlib.nullcontext()
    if not left_out:
        tools = tempfile.TemporaryDirectory(prefix="alveary-demo-")
    keep: contextlib.AbstractContextManager[str | None] = contextlib.nullcontext(records)
    if records is None and not workload.store_missing():
        keep = tempfile.TemporaryDirectory(prefix="alveary-demo-records-")
    with tools as tool_logs, keep as folder:  # temporary ones go once the agents stopped
        db = str(Path(folder, "alveary.db")) if folder is not None else None
        mapping = workload.config(timeout, tool_logs, db)
        mix = workload.kinds(tool_logs is not None)
        specs = workload.task_specs(files, tasks, timeout, mix)
        orch = Orchestrator.from_config(mapping)
        try:
            log = await asyncio.to_thread(log_path.open, "w", encoding="utf-8")
        except OSError as exc:
            print(f"alveary demo: cannot write the event log: {exc}", file=sys.stderr)
            return 2
        _header(out, mapping, mix, len(specs), len(files), root, timeout, left_out)
        stats = EventStats(len(specs))
        with log:
            handles, progress, unfinished = await _run(orch, specs, stats, log, out)
    progress.update(final=True)
    print(file=out)
    ids = {h.id for h in handles}
    doubled = [i for i, n in stats.terminal.items() if n != 1 or i not in ids]
    missing = [i for i in ids if i not in stats.terminal]
    for line in render(stats, [h.task for h in handles], progress.elapsed, root):
        print(line, file=out)
    print(
        f"  {'event log'.ljust(LABEL)}  {log_path}: {stats.events:,} events, "
        f"{sum(stats.terminal.values()):,} terminal for {len(ids):,} tasks",
        file=out,
    )
    print(f"  {'records'.ljust(LABEL)}  {_records(db, temporary=records is None)}", file=out)
    print(file=out)
    if unfinished or doubled or missing:
        print(
            f"FAILED: {len(unfinished)} tasks unfinished, {len(missing)} without a terminal "
            f"event, {len(doubled)} with more than one (exit 1)",
            file=out,
        )
        return 1
    print("ok: every task reached exactly one terminal state (exit 0)", file=out)
    return 0


def _records(db: str | None, *, temporary: bool) -> str:
    if db is None:
        return f"in memory only ({workload.store_missing()})"
    if temporary:
        return f"sqlite, in {db}, removed at exit (keep them with --records DIR)"
    return f"sqlite, in {db}"


def _check(tasks: int, timeout: float, path: str, records: str | None) -> str | None:
    if tasks < 1:
        return f"--tasks must be at least 1, got {tasks}"
    if not timeout > 0:
        return f"--timeout must be > 0, got {timeout}"
    if not Path(path).is_dir():
        return f"--path {path}: not a directory"
    if records is not None and workload.store_missing():
        return f"--records needs alveary-state ({workload.store_missing()})"
    if records is not None and not Path(records).is_dir():
        return f"--records {records}: not a directory"
    return None


async def _run(
    orch: Orchestrator, specs: Sequence[TaskSpec], stats: EventStats, log: TextIO, out: TextIO
) -> tuple[list[TaskHandle], Progress, list[str]]:
    """Start ``orch``, submit ``specs`` and wait for them with a progress bar, every event going
    to ``log`` and ``stats``; stop it. Returns the handles, the bar and the unfinished ids."""
    follower = asyncio.ensure_future(follow(orch, stats, log))
    await asyncio.sleep(0)  # let the follower subscribe before the first event
    async with orch:
        stats.names = {a.id: (a.name, a.pool or "-") for a in orch.agents()}
        progress = Progress(stats, out, tty=out.isatty())
        handles = [await orch.submit(spec) for spec in specs]
        ticker = asyncio.ensure_future(progress.run(0.1))
        quiet = workload.SYNC_TIMEOUT + orch.config.orchestrator.retry_max + 30
        await _wait(handles, quiet)
        progress.ended = time.perf_counter()
        unfinished = [h.id for h in handles if not h.done()]  # before stop() cancels them
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    await follower
    return handles, progress, unfinished


async def _wait(handles: Sequence[TaskHandle], quiet: float) -> None:
    """Wait until every task is terminal; give up if none finishes for ``quiet`` seconds."""
    pending = {asyncio.ensure_future(h.result()) for h in handles if not h.done()}
    while pending:
        done, pending = await asyncio.wait(pending, timeout=quiet)
        if not done:
            for future in pending:
                future.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return


def _header(
    out: TextIO,
    mapping: dict[str, object],
    mix: Sequence[str],
    tasks: int,
    files: int,
    root: str,
    timeout: float,
    left_out: str | None,
) -> None:
    rule = "-" * 72
    lines = [f"alveary demo: {tasks} tasks ({', '.join(mix)}) on {files} files under {root}"]
    if left_out:
        lines.append(f"subprocess pool left out: {left_out}")
    else:
        lines.append(
            f"subprocess pool: `{workload.TOOL[0]}` runs once per count task as a child process; "
            "its logs go to a temporary log_dir, removed at the end"
        )
    lines += [
        "",
        "config, embedded (save it as alveary.toml and `alveary run` starts the same pools):",
        rule,
        toml.dumps(mapping).rstrip(),
        rule,
        "faults, on purpose:",
        f"  compress  {workload.FAIL:.0%} of attempts raise InjectedFault; "
        "1 task in 4 gets a single attempt",
        f"  analyse   {workload.STALL:.0%} of attempts get stuck until their {timeout:g} s "
        "timeout; 2 attempts each",
        "  which attempts: a hash of the task id and attempt number, not a random draw",
        "",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()
