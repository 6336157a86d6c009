"""Turn the measurements into target verdicts and a plain-text table."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from _kernel import LABELS, VARIANTS

MB = 1_000_000


def _sizes(results: dict[str, Any]) -> list[str]:
    return [str(s) for s in results["settings"]["sizes"]]


def _routing_ratio(kernel: dict[str, Any], sizes: list[str]) -> float:
    return float(kernel[sizes[-1]]["routing"]["us"] / kernel[sizes[0]]["routing"]["us"])


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """Kernel/floor ratios (above 1: the kernel takes longer than the floor), peer/kernel
    ratios (above 1: the peer takes longer than the kernel), and routing cost at the largest
    fleet over the smallest."""
    sizes = _sizes(results)
    floor = results["floor"]
    found: dict[str, Any] = {"routing": {}, "floor": {}, "peers": {}}
    for variant in VARIANTS:
        kernel = results["kernel"][variant]
        if len(sizes) > 1:
            found["routing"][variant] = _routing_ratio(kernel, sizes)
        found["floor"][variant] = {s: _versus(kernel[s], floor[s]) for s in sizes}
    ours = results["kernel"]["builtins"][sizes[0]]
    for name, peer in results.get("peers", {}).items():
        if "skipped" not in peer:
            found["peers"][name] = _versus(peer, ours)
    return found


def _versus(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """How many times longer ``a`` takes than ``b``: per round trip, and per task under load."""
    return {
        "delegation_p50": a["delegation"]["p50_us"] / b["delegation"]["p50_us"],
        "delegation_p99": a["delegation"]["p99_us"] / b["delegation"]["p99_us"],
        "time_per_task": _time_ratio(a["throughput"], b["throughput"]),
    }


def _time_ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    """How many times longer a task takes in run ``a`` than in ``b``: the median of the
    ratios of runs made in alternation when ``a`` has them (``floor_ratios``), else the ratio
    of the medians."""
    paired = a.get("floor_ratios")
    if paired:
        return float(statistics.median(paired))
    return float(b["tasks_per_s"] / a["tasks_per_s"])


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per target and variant: the worst value over fleet sizes, and whether it
    meets the target."""
    sizes = _sizes(results)
    verdicts: list[dict[str, Any]] = []

    def add(target: str, variant: str, value: float, unit: str, met: bool) -> None:
        verdicts.append(
            {"target": target, "variant": variant, "value": value, "unit": unit, "met": met}
        )

    for variant in VARIANTS:
        kernel = results["kernel"][variant]
        reg = max(kernel[s]["registration"]["p99_us"] for s in sizes)
        add("registration p99 <= 100 µs", variant, reg, "µs", reg <= 100)
        rt = max(kernel[s]["delegation"]["p99_us"] for s in sizes)
        add("delegation p99 <= 250 µs", variant, rt, "µs", rt <= 250)
        tps = min(kernel[s]["throughput"]["tasks_per_s"] for s in sizes)
        add(">= 20,000 tasks/s", variant, tps, "tasks/s", tps >= 20_000)
        times = max(
            _time_ratio(kernel[s]["throughput"], results["floor"][s]["throughput"]) for s in sizes
        )
        limit = 8 if variant == "builtins" else 12
        add(f"time per task <= {limit}x the floor", variant, times, "x", times <= limit)
        if len(sizes) > 1:
            ratio = _routing_ratio(kernel, sizes)
            add(
                f"routing at {int(sizes[-1]):,} <= 2x at {int(sizes[0]):,}",
                variant,
                ratio,
                "x",
                ratio <= 2,
            )
    per_agent = results["memory"]["tracemalloc"]["bytes_per_agent"]
    add("kernel memory <= 1 KB/agent", "builtins", per_agent, "B", per_agent <= 1024)
    rss = results["memory"]["rss"]
    add(
        f"RSS <= 50 MB at {rss['agents']:,} agents",
        "builtins",
        rss["rss_bytes"] / MB,
        "MB",
        rss["rss_bytes"] <= 50 * MB,
    )
    return verdicts


def _table(rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Columns padded to fit; the first ``left`` columns left-aligned, the rest right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(widths[i]) if i < left else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _pair(summary: dict[str, Any]) -> str:
    return f"{summary['p50_us']:.1f} / {summary['p99_us']:.1f}"


def _gc_share(run: dict[str, Any]) -> str:
    return f"{run['gc_seconds'] / run['seconds']:.0%}"


def _value(v: dict[str, Any]) -> str:
    unit, value = v["unit"], v["value"]
    if unit == "tasks/s":
        text = f"{value:,.0f} tasks/s"
    elif unit == "x":
        text = f"{value:.2f}x"
    elif unit == "B":
        text = f"{value:,.0f} B"
    else:
        text = f"{value:.1f} {unit}"
    return f"{'met' if v['met'] else 'MISSED'} ({text})"


def render(results: dict[str, Any]) -> str:
    """The report: machine, one row per measure and fleet size, memory, peers, targets."""
    sizes = _sizes(results)
    kernel, floor = results["kernel"], results["floor"]
    m, s = results["machine"], results["settings"]
    out = [
        f"alveary {m['alveary']} kernel benchmarks: {m['python']}, {m['platform']}, "
        f"{m['cpus']} CPUs",
        f"{s['round_trips']:,} sequential round trips and {s['tasks']:,} concurrent tasks "
        "per fleet size; agents have capacity 1 and an async no-op handler",
        f"garbage collection: {s.get('collector', 'not recorded')}",
        "",
    ]
    head = ["measure", "agents", *(LABELS[v] for v in VARIANTS), "asyncio floor"]
    rows: list[list[str]] = [head]

    def section(name: str, cell: Callable[[dict[str, Any]], str], floor_cell: Any) -> None:
        for i, size in enumerate(sizes):
            rows.append(
                [
                    name if i == 0 else "",
                    f"{int(size):,}",
                    *(cell(kernel[v][size]) for v in VARIANTS),
                    floor_cell(floor[size]) if floor_cell else "-",
                ]
            )

    section("registration p50 / p99 µs", lambda k: _pair(k["registration"]), None)
    section(
        "delegation p50 / p99 µs",
        lambda k: _pair(k["delegation"]),
        lambda f: _pair(f["delegation"]),
    )
    section(
        "throughput tasks/s",
        lambda k: f"{k['throughput']['tasks_per_s']:,.0f}",
        lambda f: f"{f['throughput']['tasks_per_s']:,.0f}",
    )
    section(
        "  of which in gc",
        lambda k: _gc_share(k["throughput"]),
        lambda f: _gc_share(f["throughput"]),
    )
    section("routing µs / decision", lambda k: f"{k['routing']['us']:.2f}", None)
    found = results["ratios"]
    if found["routing"]:
        rows.append(
            [
                f"routing {int(sizes[-1]):,} vs {int(sizes[0]):,} agents",
                "",
                *(f"{found['routing'][v]:.2f}x" for v in VARIANTS),
                "",
            ]
        )
    for key, name in (
        ("delegation_p50", "kernel/floor delegation p50"),
        ("time_per_task", "kernel/floor time per task"),
    ):
        for i, size in enumerate(sizes):
            rows.append(
                [
                    name if i == 0 else "",
                    f"{int(size):,}",
                    *(f"{found['floor'][v][size][key]:.1f}x" for v in VARIANTS),
                    "",
                ]
            )
    out.append(_table(rows, left=1))

    tm, rss = results["memory"]["tracemalloc"], results["memory"]["rss"]
    files = ", ".join(f"{f['file']} {f['bytes_per_agent']:.0f} B" for f in tm["top_files"][:4])
    out += [
        "",
        f"memory at {tm['agents']:,} agents: {tm['bytes_per_agent']:,.0f} B/agent kernel "
        f"(tracemalloc; {files}); the caller's AgentSpec adds {tm['spec_bytes_per_agent']:,.0f} B",
        f"RSS at {rss['agents']:,} agents: {rss['rss_bytes'] / MB:.1f} MB "
        f"({rss['before_bytes'] / MB:.1f} MB before registering; {rss['source']})",
    ]

    if "peers" in results:
        out += ["", _peer_lines(results)]

    targets = [["target", *(LABELS[v] for v in VARIANTS)], *_target_rows(results)]
    out += ["", _table(targets, left=len(targets[0]))]
    return "\n".join(out)


def _target_rows(results: dict[str, Any]) -> list[list[str]]:
    by_target: dict[str, dict[str, str]] = {}
    for v in results["targets"]:
        by_target.setdefault(v["target"], {})[v["variant"]] = _value(v)
    return [[t, *(cells.get(v, "-") for v in VARIANTS)] for t, cells in by_target.items()]


def _peer_lines(results: dict[str, Any]) -> str:
    small = results["settings"]["sizes"][0]
    found = results["ratios"]["peers"]
    rows = [["peer", "delegation p50 / p99 µs", "tasks/s", "peer/alveary p50", "time per task"]]
    notes = []
    for name, peer in results["peers"].items():
        if "skipped" in peer:
            notes.append(f"{name} skipped: {peer['skipped']}")
            continue
        notes.append(f"{name}: {peer['setup']}")
        rows.append(
            [
                name,
                _pair(peer["delegation"]),
                f"{peer['throughput']['tasks_per_s']:,.0f}",
                f"{found[name]['delegation_p50']:,.0f}x",
                f"{found[name]['time_per_task']:,.0f}x",
            ]
        )
    lines = [f"peers, against the kernel (built-ins only) at {small:,} agents:"]
    if len(rows) > 1:
        lines.append(_table(rows))
    return "\n".join([*lines, *notes])
