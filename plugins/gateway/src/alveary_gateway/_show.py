"""How the command-line client shows the API's records to a person: aligned tables, a task
as ``key: value`` lines, an event as one line. ``--json`` bypasses all of it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

LIVE = ("pending", "queued", "assigned", "running")
"""The states a task leaves: what ``alveary status`` counts as the queue."""


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; ``(none)`` under the header when there are no
    rows."""
    cells = [[str(c) for c in header], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines if rows else [*lines, "(none)"])


def when(epoch: float | None) -> str:
    """An epoch time as local ``YYYY-MM-DD HH:MM:SS``."""
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def value_text(value: Any) -> str:
    """A task's value for stdout: a string as it is (a tool's output), anything else as
    JSON."""
    return value if isinstance(value, str) else compact(value)


def task_rows(records: Sequence[Mapping[str, Any]]) -> str:
    return table(
        ("ID", "STATE", "KIND", "ATTEMPTS", "AGENT", "SUBMITTED"),
        [
            (
                r["id"],
                r["state"],
                r["kind"],
                f"{r['attempts']}/{r['max_attempts']}",
                r["agent_id"] or "-",
                when(r["submitted"]),
            )
            for r in records
        ],
    )


def task_lines(r: Mapping[str, Any]) -> str:
    """One task, a field per line; the times it entered each state in order."""
    fields = [
        ("id", r["id"]),
        ("kind", r["kind"]),
        ("state", r["state"]),
        ("attempts", f"{r['attempts']} of {r['max_attempts']}"),
        ("priority", r["priority"]),
        ("requires", ", ".join(r["requires"]) or "-"),
        ("agent", r["agent_id"] or "-"),
        ("submitted", when(r["submitted"])),
        *((f"  {state}", when(at)) for state, at in sorted(r["times"].items(), key=_second)),
        ("payload", compact(r["payload"])),
        *([("value", compact(r["value"]))] if r["state"] == "succeeded" else []),
        *([("error", r["error"])] if r["error"] else []),
        *([("waiting", r["waiting"])] if r.get("waiting") else []),
        *((key, r[key]) for key in ("idempotency_key", "affinity_key") if r[key]),
        *([("labels", compact(r["labels"]))] if r["labels"] else []),
    ]
    width = max(len(k) for k, _ in fields) + 1
    return "\n".join(f"{k + ':':{width}} {v}" for k, v in fields)


def _second(item: tuple[str, float]) -> float:
    return item[1]


def agent_rows(agents: Sequence[Mapping[str, Any]]) -> str:
    return table(
        ("NAME", "STATE", "HEALTH", "TASKS", "POOL", "RUNTIME", "CAPABILITIES"),
        [
            (
                a["name"],
                a["state"],
                a["health"],
                f"{a['in_flight']}/{a['capacity']}",
                a["pool"] or "-",
                a["runtime"],
                ", ".join(a["capabilities"]) or "-",
            )
            for a in agents
        ],
    )


def approval_rows(waiting: Sequence[Mapping[str, Any]]) -> str:
    if not waiting:
        return "no command waits for a decision"
    return table(
        ("TASK", "KIND", "AGENT", "SINCE", "RISK", "COMMAND", "WHY"),
        [
            (
                a["task_id"],
                a["kind"],
                a["agent"],
                when(a["since"]),
                a["risk"] or "-",
                a["command"][:60],
                a["reason"][:80],
            )
            for a in waiting
        ],
    )


def pool_rows(pools: Sequence[Mapping[str, Any]]) -> str:
    return table(
        ("POOL", "RUNTIME", "SIZE", "AGENTS", "READY", "BUSY", "TASKS", "QUEUED", "OLDEST"),
        [
            (
                p["name"],
                p["runtime"],
                f"{p['min']}-{p['max'] if p['max'] is not None else p['min']}",
                f"{p['metrics']['agents']}/{p['desired']}",
                p["metrics"]["ready"],
                p["metrics"]["busy"],
                f"{p['metrics']['in_flight']}/{p['metrics']['capacity']}",
                p["metrics"]["queued"],
                f"{p['metrics']['oldest_wait']:.1f}s" if p["metrics"]["queued"] else "-",
            )
            for p in pools
        ],
    )


def health_line(health: Mapping[str, Any]) -> str:
    """``health: degraded (score 0.72; error_rate 0.08 > 0.05)``: the SLO summary of
    alveary-metrics, with the objectives it misses."""
    missed = [
        f"{o['name']} {o['value']:g} {'<' if o['op'] == '>=' else '>'} {o['target']:g}"
        for o in health["objectives"]
        if o["burn"] is not None and o["burn"] > 1
    ]
    detail = "".join(f"; {m}" for m in missed)
    return f"health: {health['status']} (score {health['score']:.2f}{detail})"


def counts(live: Mapping[str, str]) -> str:
    return "tasks: " + ", ".join(f"{n} {state}" for state, n in live.items())


def event_line(type: str, data: Mapping[str, Any]) -> str:
    """``seq time type task=... agent=... {data}``; a frame of the gateway itself (a gap in
    the replay, a dropped stream) has no ``seq``."""
    if "seq" not in data:
        return f"- {'-':19} {type} {compact(data)}"
    parts = [str(data["seq"]), when(data["time"]), data["type"]]
    parts += [f"{k}={data[k + '_id']}" for k in ("task", "agent") if data.get(k + "_id")]
    if data.get("data"):
        parts.append(compact(data["data"]))
    return " ".join(parts)
