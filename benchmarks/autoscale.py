"""The autoscale plugin against synthetic load curves (step, ramp, spike, sine, burst), simulated.

    uv run python benchmarks/autoscale.py                        # table + JSON
    uv run --with matplotlib python benchmarks/autoscale.py      # and a PNG plot

Each curve drives a pool (1-50 agents of one slot, tasks of 1 s on average, agents ready 2 s
after they are asked for) for 40 simulated minutes, once with the plugin's defaults and once
with the old platform's pacing (60 s between scale-ups, 300 s before a scale-down). It prints
pool size, queue wait and direction changes, writes ``benchmarks/results/autoscale.json`` and,
when matplotlib is importable, ``benchmarks/results/autoscale.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from alveary_autoscale import Policy
from alveary_autoscale.simulate import CURVES, DURATION, Result, simulate

HERE = Path(__file__).resolve().parent
POLICIES = {
    "default": Policy(),
    "old pacing": Policy(up_cooldown=60.0, down_cooldown=300.0),
}
COLUMNS = ("mean_wait", "p95_wait", "max_wait", "max_size", "reversals", "changes", "agent_hours")


def run(duration: float) -> tuple[dict[str, Any], dict[str, dict[str, Result]]]:
    results: dict[str, Any] = {"duration": duration, "curves": {}}
    series: dict[str, dict[str, Result]] = {}
    for curve, rate in CURVES.items():
        results["curves"][curve] = {}
        series[curve] = {}
        for label, policy in POLICIES.items():
            start = time.perf_counter()
            result = simulate(policy, rate, duration=duration)
            summary = result.summary()
            summary["decide_us"] = (time.perf_counter() - start) / len(result.times) * 1e6
            results["curves"][curve][label] = summary
            series[curve][label] = result
    return results, series


def table(results: dict[str, Any]) -> str:
    head = (
        "curve",
        "policy",
        "wait mean s",
        "wait p95 s",
        "wait max s",
        "max agents",
        "reversals",
        "changes",
        "agent-hours",
    )
    rows = [head]
    for curve, by_policy in results["curves"].items():
        for label, s in by_policy.items():
            rows.append(
                (
                    curve,
                    label,
                    f"{s['mean_wait']:.2f}",
                    f"{s['p95_wait']:.1f}",
                    f"{s['max_wait']:.1f}",
                    str(s["max_size"]),
                    str(s["reversals"]),
                    str(s["changes"]),
                    f"{s['agent_hours']:.1f}",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def plot(series: dict[str, dict[str, Result]], path: Path) -> str:
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return "matplotlib is not installed: no plot (uv run --with matplotlib ...)"
    fig, axes = plt.subplots(len(series), 2, figsize=(13, 3.2 * len(series)), sharex=True)
    for row, (curve, by_policy) in zip(axes, series.items(), strict=True):
        size_ax, wait_ax = row
        first = next(iter(by_policy.values()))
        minutes = [t / 60 for t in first.times]
        load = size_ax.twinx()
        load.fill_between(minutes, first.rate, color="0.9", step="post")
        load.set_ylabel("tasks/s", color="0.5")
        size_ax.set_zorder(load.get_zorder() + 1)
        size_ax.patch.set_visible(False)
        for label, result in by_policy.items():
            size_ax.step(minutes, result.desired, where="post", label=label)
            wait_ax.plot(minutes, result.oldest_wait, label=label)
        size_ax.set_ylabel(f"{curve}: agents")
        wait_ax.set_ylabel("oldest queued task, s")
        size_ax.legend(loc="upper left", fontsize="small")
    axes[-1][0].set_xlabel("minutes")
    axes[-1][1].set_xlabel("minutes")
    fig.suptitle("alveary-autoscale: pool size and queue wait under synthetic load")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return f"plot: {path.relative_to(HERE.parent)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=DURATION, help="simulated seconds")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "autoscale.json")
    args = parser.parse_args(argv)
    results, series = run(args.duration)
    print(table(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {args.output}")
    print(plot(series, args.output.with_suffix(".png")), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
