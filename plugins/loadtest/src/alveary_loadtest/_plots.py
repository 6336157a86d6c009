"""``--plot FILE.png``: throughput and latency over the run. matplotlib is an optional extra
(``alveary-loadtest[plots]``), imported here only, and only when a plot is asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class PlotsMissing(Exception):
    """matplotlib is not installed."""


def check() -> None:
    """Fail before the run, not after it, when a plot cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotsMissing(
            "--plot needs matplotlib: pip install 'alveary-loadtest[plots]'"
        ) from None


def plot(report: Mapping[str, Any], path: str) -> None:
    """Two panels sharing the time axis: tasks finished per second, and p50/p95 latency."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window
    import matplotlib.pyplot as plt

    rows = report["timeline"]
    t = [r["t"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    top.plot(t, [r["per_s"] for r in rows], color="tab:blue")
    top.set_ylabel("tasks finished / s")
    top.set_title(f"alveary loadtest: {report['target']}")
    for key, style in (("p50_ms", "-"), ("p95_ms", "--")):
        points = [(r["t"], r[key]) for r in rows if r[key] is not None]
        bottom.plot([p[0] for p in points], [p[1] for p in points], style, label=key[:3])
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("seconds into the run")
    bottom.legend()
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
