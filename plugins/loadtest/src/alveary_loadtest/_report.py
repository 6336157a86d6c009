"""The report: JSON for ``--report`` (and for a later run's ``--baseline``), and the summary
printed on stdout."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

from ._measure import Recorder, timeline


def build(
    plan_path: str,
    target: str,
    rec: Recorder,
    phases: Mapping[str, Any],
    metrics: Mapping[str, Any],
    targets: list[dict[str, Any]],
    baseline: list[dict[str, Any]],
    interrupted: bool,
) -> dict[str, Any]:
    failed = any(not t["met"] for t in targets) or any(b["verdict"] == "fail" for b in baseline)
    return {
        "plan": plan_path,
        "target": target,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "seconds": rec.now(),
        "interrupted": interrupted,
        "passed": not failed and not interrupted,
        "metrics": dict(metrics),
        "targets": targets,
        "baseline": baseline,
        "phases": dict(phases),
        "timeline": timeline(rec.samples),
    }


def write(path: str, report: Mapping[str, Any]) -> None:
    """Write the report whole or not at all: a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(
        "w", dir=folder, prefix=".loadtest-", suffix=".json", delete=False, encoding="utf-8"
    ) as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(f.name, path)


def _number(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.1%}"
    return f"{value:,.3g}{unit}" if abs(value) < 100 else f"{value:,.0f}{unit}"


UNITS = {
    "spawn_seconds": " s",
    "latency_p50_ms": " ms",
    "latency_p95_ms": " ms",
    "latency_p99_ms": " ms",
    "completion": "%",
    "throughput_per_s": "/s",
    "stress_per_s": "/s",
}


def summary(report: Mapping[str, Any]) -> str:
    """Plain text: the metrics, each target met or missed, the baseline comparison."""
    out = [f"loadtest of {report['target']}: {report['seconds']:.1f} s"]
    if report["interrupted"]:
        out[0] += " (interrupted: partial results)"
    for metric, value in report["metrics"].items():
        out.append(f"  {metric:<17} {_number(value, UNITS[metric])}")
    stress = report["phases"].get("stress")
    if stress is not None:
        why = f"broke: {stress['reason']}" if stress["reason"] else "held to the end"
        out.append(f"  stress            {why}")
    for t in report["targets"]:
        mark = "met   " if t["met"] else "MISSED"
        out.append(f"{mark} {t['target']} ({_number(t['value'], UNITS[t['metric']])})")
    for b in report["baseline"]:
        unit = UNITS[b["metric"]]
        out.append(
            f"{b['verdict'].upper():<6} {b['metric']}: {_number(b['value'], unit)} vs "
            f"{_number(b['baseline'], unit)} baseline ({b['worse']:+.0%} worse)"
        )
    return "\n".join(out)


def emit(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
