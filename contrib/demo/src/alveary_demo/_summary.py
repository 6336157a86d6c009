"""The summary printed at the end of a demo run: states, agents, latency, the agents' results."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from alveary import Task, TaskState

from ._stats import TERMINAL, EventStats
from ._workload import COUNT, TOOL

LABEL = 11
"""Width of the labels of the summary's last section."""


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of ``values`` (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def size(n: float) -> str:
    """Bytes in decimal units: ``987 B``, ``12.3 kB``, ``4.56 MB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}" if n < 100 * scale else f"{n / scale:.0f} {unit}"
    return f"{n:.0f} B"


def wc_counts(stdout: str) -> tuple[int, int, int]:
    """Lines, words and bytes from what ``wc -l -w -c FILE`` prints: the counts come first,
    in that order whatever the order of the flags, then the file name."""
    lines, words, chars = stdout.split(maxsplit=3)[:3]
    return int(lines), int(words), int(chars)


def _table(rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """Rows as aligned columns: ``align`` has ``l`` or ``r`` per column."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(align))]
    return [
        "  "
        + "  ".join(
            cell.ljust(w) if a == "l" else cell.rjust(w)
            for cell, w, a in zip(row, widths, align, strict=True)
        ).rstrip()
        for row in rows
    ]


def _latency(task: Task) -> float | None:
    end = task.times.get(task.state.value)
    return None if end is None or not task.state.terminal else end - task.submitted


def render(stats: EventStats, tasks: Sequence[Task], wall: float, root: str) -> list[str]:
    """The summary's lines: everything but the verdict and the event log, which the runner
    adds once the log is closed."""
    lines = [
        f"summary: {len(tasks)} tasks in {wall:.2f} s ({len(tasks) / max(wall, 1e-9):.0f} tasks/s)",
        "",
    ]

    states = Counter(t.state.value for t in tasks)
    rows: list[tuple[str, ...]] = [("state", "tasks")]
    rows += [(s, str(states[s])) for s in TERMINAL]
    unfinished = sum(n for s, n in states.items() if s not in TERMINAL)
    if unfinished:
        rows.append(("unfinished", str(unfinished)))
    rows.append(("total", str(len(tasks))))
    lines += [*_table(rows, "lr"), ""]

    rows = [("agent", "pool", "done", "failures", "mean ms")]
    for agent in sorted(stats.agents.values(), key=lambda a: (a.pool, len(a.name), a.name)):
        rows.append(
            (
                agent.name,
                agent.pool,
                str(agent.attempts),
                str(agent.failures),
                f"{agent.mean_ms:.1f}",
            )
        )
    lines += [*_table(rows, "llrrr"), ""]

    rows = [("submit to result", "tasks", "p50 ms", "p95 ms", "p99 ms")]
    kinds = dict.fromkeys(t.kind for t in tasks)  # in the order of the task mix
    groups = [(kind, [t for t in tasks if t.kind == kind]) for kind in kinds]
    for label, group in [*groups, ("all", list(tasks))]:
        values = [1000 * v for v in map(_latency, group) if v is not None]
        rows.append(
            (label, str(len(values)), *(f"{percentile(values, p):.1f}" for p in (50, 95, 99)))
        )
    lines += [*_table(rows, "lrrrr"), ""]

    lines += _results(stats, tasks, root)
    return lines


def _results(stats: EventStats, tasks: Sequence[Task], root: str) -> list[str]:
    values: dict[str, list[Any]] = defaultdict(list)
    counted: dict[str, tuple[int, int, int]] = {}
    for task in tasks:
        if task.state is TaskState.SUCCEEDED and task.outcome is not None:
            values[task.kind].append(task.outcome.value)
            if task.kind == COUNT:
                counted[task.payload["path"]] = wc_counts(task.outcome.value["stdout"])
    hashed = values["hash"]
    compressed = values["compress"]
    raw = sum(v["bytes"] for v in compressed)
    rows = [
        ("retries", f"{stats.retries} failed attempts run again after a backoff"),
        (
            "timeouts",
            f"{stats.timeouts} stuck attempts cancelled at their timeout "
            f"({stats.stuck:.1f} s of agent time)",
        ),
        ("hashed", f"{size(sum(v['bytes'] for v in hashed))} by {len(hashed)} tasks (sha256)"),
    ]
    if raw:
        zlib, lzma = (sum(v[codec] for v in compressed) for codec in ("zlib", "lzma"))
        rows.append(
            (
                "compressed",
                f"{size(raw)} by {len(compressed)} tasks: zlib to {size(zlib)} "
                f"({zlib / raw:.1%}), lzma to {size(lzma)} ({lzma / raw:.1%})",
            )
        )
    else:
        rows.append(("compressed", "nothing: no compress task succeeded"))
    files = {v["path"]: v for v in values["analyse"]}
    tokens: Counter[str] = Counter()
    for v in files.values():
        tokens.update(dict(v["top"]))
    rows.append(
        (
            "analysed",
            f"{len(files)} distinct files under {root}: "
            f"{sum(v['lines'] for v in files.values()):,} lines, "
            f"{sum(v['words'] for v in files.values()):,} words",
        )
    )
    if tokens:
        top = ", ".join(f"{token} {n}" for token, n in tokens.most_common(6))
        rows.append(("top tokens", top))
    if any(t.kind == COUNT for t in tasks):
        lines, words, chars = (sum(c[i] for c in counted.values()) for i in range(3))
        rows.append(
            (
                "counted",
                f"{len(counted)} distinct files with {TOOL[0]}: {lines:,} lines, "
                f"{words:,} words, {chars:,} bytes",
            )
        )
    by_id = {t.id: t for t in tasks}
    for task_id, state, error in stats.errors:
        found = by_id.get(task_id)
        what = task_id if found is None else found.kind
        if found is not None and found.payload["path"] not in error:
            what += " " + found.payload["path"]
        rows.append((f"e.g. {state}", f"{what}: {error}"))
    return [f"  {label.ljust(LABEL)}  {text}" for label, text in rows]
