"""The run's headline metrics, the targets they are held to, and a comparison with a saved
baseline report (each metric judged in its own direction: less time is better, more completion
is better)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ._measure import Recorder, counts, latency_ms
from ._plan import Plan

LOWER_IS_BETTER = ("spawn_seconds", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
HIGHER_IS_BETTER = ("completion", "throughput_per_s", "stress_per_s")

WARN = 0.15
FAIL = 0.25
"""A metric worse than the baseline by more than this fraction warns, or fails the run."""


class BaselineError(Exception):
    """The baseline file cannot be used: ``str()`` is the one line to print."""


def metrics(plan: Plan, phases: Mapping[str, Any], rec: Recorder) -> dict[str, float | None]:
    """The headline numbers: spawn time, submit-to-result latency and completion over the
    delegation and concurrent phases, the concurrent phase's throughput, and the arrival rate
    the stress phase broke at (or the highest it held)."""
    measured = rec.of("delegation", "concurrent")
    latency = latency_ms(measured) or {}
    spawn = phases.get("spawn", {})
    stress = phases.get("stress", {})
    return {
        "spawn_seconds": spawn.get("seconds"),
        "latency_p50_ms": latency.get("p50"),
        "latency_p95_ms": latency.get("p95"),
        "latency_p99_ms": latency.get("p99"),
        "completion": counts(measured)["completion"],
        "throughput_per_s": phases.get("concurrent", {}).get("throughput_per_s"),
        "stress_per_s": stress.get("broke_at_per_s") or stress.get("held_per_s"),
    }


def check(plan: Plan, phases: Mapping[str, Any], found: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One verdict per target whose phase ran; a phase that ran without producing the number
    (the agents never all came up, no task succeeded) misses its target."""
    t = plan.targets
    ran_tasks = "delegation" in phases or "concurrent" in phases
    wanted: list[tuple[str, str, float | None, str, bool]] = [
        ("spawn_seconds", "spawn time", t.spawn_seconds, "<=", "spawn" in phases),
        ("latency_p50_ms", "latency p50", t.latency_p50_ms, "<=", ran_tasks),
        ("latency_p95_ms", "latency p95", t.latency_p95_ms, "<=", ran_tasks),
        ("latency_p99_ms", "latency p99", t.latency_p99_ms, "<=", ran_tasks),
        ("completion", "completion", t.completion, ">=", ran_tasks),
    ]
    verdicts = []
    for metric, name, limit, op, ran in wanted:
        if limit is None or not ran:
            continue
        value = found[metric]
        met = value is not None and (value <= limit if op == "<=" else value >= limit)
        verdicts.append(
            {"metric": metric, "target": f"{name} {op} {limit:g}", "value": value, "met": met}
        )
    return verdicts


def load_baseline(path: str) -> dict[str, float]:
    """The metrics of a report written earlier with ``--report``."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: not JSON: {exc}") from None
    found = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        raise BaselineError(f"{path}: metrics: expected a table of a loadtest report")
    return {
        k: float(v)
        for k, v in found.items()
        if k in (*LOWER_IS_BETTER, *HIGHER_IS_BETTER)
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
        and math.isfinite(v)
    }


def compare(found: Mapping[str, Any], baseline: Mapping[str, float]) -> list[dict[str, Any]]:
    """Each metric both runs have: how much worse this run is (a fraction of the baseline,
    negative when better), and ``ok``, ``warn`` (beyond 15%) or ``fail`` (beyond 25%)."""
    rows = []
    for metric, base in baseline.items():
        value = found.get(metric)
        if value is None or base <= 0:
            continue
        worse = (value - base) / base if metric in LOWER_IS_BETTER else (base - value) / base
        verdict = "fail" if worse > FAIL else "warn" if worse > WARN else "ok"
        rows.append(
            {"metric": metric, "baseline": base, "value": value, "worse": worse, "verdict": verdict}
        )
    return rows
