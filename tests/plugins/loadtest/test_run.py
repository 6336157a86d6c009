"""``alveary loadtest`` against an orchestrator in its own process: the smoke plan, agents
that fail, a baseline, Ctrl-C, plots."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from alveary_loadtest._targets import compare

from .conftest import SMOKE, loadtest, start

SHORT = """
[loadtest]
phases = ["delegation", "concurrent"]
[targets]
latency_p95_ms = 10000
[spawn]
agents = 4
[delegation]
tasks = 5
[concurrent]
duration = 1
rate = 40
"""


async def test_the_smoke_plan_runs_every_phase(tmp_path: Path) -> None:
    status, out, err = await loadtest(
        str(SMOKE), "--report", "report.json", "--progress-every", "1", cwd=tmp_path
    )
    assert status == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"]
    assert not report["interrupted"]
    phases = report["phases"]
    assert list(phases) == ["preparation", "spawn", "delegation", "concurrent", "stress"]
    assert phases["spawn"]["ready"] == 50
    assert [b["agents"] for b in phases["spawn"]["batches"]] == [10] * 5
    assert phases["delegation"]["succeeded"] == 20
    assert phases["concurrent"]["tasks"] > 0
    assert phases["stress"]["windows"]
    assert report["metrics"]["completion"] >= 0.85
    assert {t["metric"] for t in report["targets"]} == {
        "spawn_seconds",
        "latency_p95_ms",
        "completion",
    }
    assert "met    completion >= 0.85" in out
    assert "concurrent" in err  # the progress lines, one a second off a terminal


FAILING = """
from alveary import PermanentFailure


async def boom(task):
    raise PermanentFailure("broken on purpose")
"""

CONFIG = """
[orchestrator]
shutdown_timeout = 1.0

[[pools]]
name = "breakers"
runtime = "local"
size = { min = 2, max = 2 }
capabilities = ["loadtest"]
options = { handler = "failing:boom" }
"""


async def test_agents_that_fail_miss_the_completion_target(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "failing.py").write_text(FAILING)
    (tmp_path / "conf" / "alveary.toml").write_text(CONFIG)
    (tmp_path / "plan.toml").write_text(SHORT)
    status, out, err = await loadtest(
        "plan.toml", "--config", "conf/alveary.toml", "--report", "r.json", cwd=tmp_path
    )
    assert status == 1, err
    assert "MISSED completion >= 0.85 (0.0%)" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["phases"]["delegation"]["errors"] == {
        "failed: PermanentFailure: broken on purpose": 5
    }


async def test_a_baseline_far_better_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_text(SHORT)
    better = {"metrics": {"latency_p95_ms": 1e-6, "completion": 1.0, "spawn_seconds": None}}
    (tmp_path / "better.json").write_text(json.dumps(better))
    status, out, _ = await loadtest("plan.toml", "--baseline", "better.json", cwd=tmp_path)
    assert status == 1
    assert "FAIL   latency_p95_ms" in out
    worse = {"metrics": {"latency_p95_ms": 1e9}}
    (tmp_path / "worse.json").write_text(json.dumps(worse))
    status, out, _ = await loadtest("plan.toml", "--baseline", "worse.json", cwd=tmp_path)
    assert status == 0
    assert "OK     latency_p95_ms" in out


def test_each_metric_is_judged_in_its_direction() -> None:
    found = {"latency_p95_ms": 120.0, "completion": 0.80, "throughput_per_s": 100.0}
    base = {"latency_p95_ms": 100.0, "completion": 1.0, "throughput_per_s": 80.0}
    rows = {r["metric"]: r for r in compare(found, base)}
    assert rows["latency_p95_ms"]["verdict"] == "warn"  # 20% slower
    assert rows["completion"]["verdict"] == "warn"  # 20% fewer completed
    assert rows["throughput_per_s"]["verdict"] == "ok"  # 25% more: better
    assert rows["throughput_per_s"]["worse"] == pytest.approx(-0.25)
    rows = {r["metric"]: r for r in compare({"latency_p95_ms": 130.0}, base)}
    assert rows["latency_p95_ms"]["verdict"] == "fail"


async def test_ctrl_c_stops_the_run_and_writes_the_partial_report(tmp_path: Path) -> None:
    process = await start(
        str(SMOKE), "--report", "partial.json", "--progress-every", "0.2", cwd=tmp_path
    )
    assert process.stderr is not None
    while True:  # until the concurrent phase runs
        line = await asyncio.wait_for(process.stderr.readline(), 120)
        assert line, "the run ended before it could be interrupted"
        if line.startswith(b"concurrent"):
            break
    process.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 130
    report = json.loads((tmp_path / "partial.json").read_text())
    assert report["interrupted"]
    assert not report["passed"]
    assert {"spawn", "delegation"} <= set(report["phases"])
    assert "stress" not in report["phases"]
    assert b"interrupted: partial results" in out


async def test_plot_draws_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    (tmp_path / "plan.toml").write_text(SHORT)
    status, _, err = await loadtest("plan.toml", "--plot", "run.png", cwd=tmp_path)
    assert status == 0, err
    assert (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG")


def test_nothing_imports_matplotlib_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_text(SHORT)
    code = (
        "import sys\n"
        "from alveary_loadtest.cli import main\n"
        "assert main(['plan.toml']) == 0\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
