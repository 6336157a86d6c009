"""``alveary demo``: the README's first command runs a real workload to the end, every task
reaching exactly one terminal state, and what it prints agrees with the event log it writes."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import structlog
from alveary import Orchestrator, PermanentFailure, Task, TaskSpec
from alveary._cli import main
from alveary_demo import _toml as toml
from alveary_demo import _workload as workload
from alveary_demo import demo
from alveary_demo._summary import percentile, wc_counts
from alveary_demo.agents import InjectedFault, analyse, compress, sha256

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TERMINAL = ("succeeded", "failed", "cancelled", "dead")
BINARY = b"\x89PNG\r\n\x1a\n\x00\xff\xfe not text"
TOOLS = workload.tool_missing() is None
"""The ``subprocess`` plugin is installed and ``wc`` is on PATH: the demo counts with ``wc``."""
STATE = workload.store_missing() is None
"""alveary-state is installed: the demo keeps its records in a temporary SQLite file."""
LOCAL_POOLS = {"hashers", "compressors", "analysers"}


@pytest.fixture(autouse=True)
def _logging_defaults() -> Iterator[None]:
    """``main`` configures structlog for the whole process; later tests get the defaults."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A small tree: text files, one binary file, and directories the demo must skip."""
    root = tmp_path / "repo"
    for i in range(7):
        sub = root / ("src" if i % 2 else "docs")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"file{i}.txt").write_text(f"alpha beta gamma {i}\n" * (i + 1), encoding="utf-8")
    (root / "logo.png").write_bytes(BINARY)
    for skipped in (".git", ".venv", "__pycache__", ".mypy_cache", ".hypothesis"):
        (root / skipped).mkdir()
        (root / skipped / "ignored.txt").write_text("ignored\n", encoding="utf-8")
    return root


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["demo", *args])
    return status, capsys.readouterr().out


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _section(out: str, header: str) -> list[list[str]]:
    """The rows of the summary table whose first line starts with ``header`` (the last such
    line: the config printed first may have one too, such as ``state = ...``)."""
    lines = out.splitlines()
    start = max(i for i, line in enumerate(lines) if line.split()[:1] == [header])
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_demo_runs_every_task_to_one_terminal_state(
    files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "ev.jsonl"
    args = ["--tasks", "60", "--events", str(log), "--path", str(files), "--timeout", "0.1"]
    status, out = _run(args, capsys)

    assert status == 0, out
    assert out.rstrip().endswith("(exit 0)")
    states = {row[0]: int(row[1]) for row in _section(out, "state")}
    assert set(states) == {*TERMINAL, "total"}
    assert sum(states[s] for s in TERMINAL) == states["total"] == 60

    events = _events(log)
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    submitted = {e["task_id"] for e in events if e["type"] == "task.pending"}
    assert len(submitted) == 60
    terminal = Counter(e["task_id"] for e in events if e["type"][5:] in TERMINAL)
    assert terminal == dict.fromkeys(submitted, 1)
    by_state = Counter(e["type"][5:] for e in events if e["type"][5:] in TERMINAL)
    assert {s: by_state[s] for s in TERMINAL} == {s: states[s] for s in TERMINAL}
    assert f"{log}: {len(events):,} events, 60 terminal for 60 tasks" in out

    # Every attempt that ran is charged to one agent of the pool serving its kind.
    agents = _section(out, "agent")
    assert {row[1] for row in agents} == LOCAL_POOLS | ({"counters"} if TOOLS else set())
    runs = sum(e["type"] == "task.running" for e in events)
    assert sum(int(row[2]) for row in agents) == runs
    retried = [e for e in events if e["type"] == "task.pending" and "error" in e["data"]]
    assert re.search(r"^  retries\s+(\d+) ", out, re.M)[1] == str(len(retried))  # type: ignore[index]

    # Failures are the injected ones, the binary file, or stuck attempts; never a crash.
    errors = [e["data"]["error"] for e in events if "error" in e["data"]]
    for error in errors:
        assert error.startswith(("InjectedFault", "timed out", "PermanentFailure")), error
    failed = [e for e in events if e["type"] == "task.failed"]
    assert all("logo.png is not UTF-8 text" in e["data"]["error"] for e in failed)

    latency = {row[0]: int(row[1]) for row in _section(out, "submit")}
    if not TOOLS:
        assert f"subprocess pool left out: {workload.tool_missing()}" in out
        assert set(latency) == {*workload.KINDS, "all"}
        return
    # The fourth kind: `wc` run as a child process on every file, each counted once.
    assert latency["count"] == 15
    tree = [*files.glob("src/*.txt"), *files.glob("docs/*.txt"), files / "logo.png"]
    data = [p.read_bytes() for p in tree]
    text_words = sum(len(d.split()) for d in data if d != BINARY)
    found = re.search(
        r"^  counted\s+(\d+) distinct files with wc: ([\d,]+) lines, ([\d,]+) words, "
        r"([\d,]+) bytes$",
        out,
        re.M,
    )
    assert found, out
    counted, lines, words, size = (int(g.replace(",", "")) for g in found.groups())
    assert (counted, lines, size) == (8, sum(d.count(b"\n") for d in data), sum(map(len, data)))
    # What counts as a word in binary data differs between wc implementations.
    assert text_words + 2 <= words <= text_words + len(BINARY.split())


def test_the_printed_config_is_the_one_that_ran(
    files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "ev.jsonl"
    args = ["--tasks", "6", "--events", str(log), "--path", str(files), "--timeout", "0.2"]
    status, out = _run(args, capsys)
    assert status == 0, out
    rule = "-" * 72
    text = out.split(rule)[1]
    config = tomllib.loads(text)
    log_dir = config.get("plugins", {}).get("subprocess", {}).get("log_dir")
    db = config.get("plugins", {}).get("state", {}).get("path")
    assert config == workload.config(0.2, log_dir, db)
    assert config["orchestrator"]["store"] == ("sqlite" if STATE else "memory")
    assert (log_dir is not None) == TOOLS
    assert (db is not None) == STATE
    enabled = [name for name, on in (("state", STATE), ("subprocess", TOOLS)) if on]
    assert config.get("plugins", {}).get("enabled", []) == enabled
    if STATE:
        assert re.search(rf"^  records +sqlite, in {re.escape(db)}, removed at exit", out, re.M)
    else:
        assert re.search(r"^  records +in memory only \(the alveary-state plugin", out, re.M)
    for temporary in (log_dir, db):  # the demo's own temporary directories, removed
        assert temporary is None or not Path(temporary).exists()
    Orchestrator.from_config(config)  # an operator can run it as it is


def test_the_records_can_be_kept(
    files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep = tmp_path / "records"
    keep.mkdir()
    args = ["--tasks", "6", "--events", str(tmp_path / "ev"), "--path", str(files)]
    status, out = _run([*args, "--records", str(keep)], capsys)
    if not STATE:  # refused: there is no store to keep them in
        assert status == 2
        return
    assert status == 0, out
    assert f"sqlite, in {keep / 'alveary.db'}\n" in out
    with closing(sqlite3.connect(keep / "alveary.db")) as db:
        assert db.execute("SELECT count(*) FROM tasks").fetchone() == (6,)
    status, out = _run([*args, "--records", str(tmp_path / "none")], capsys)
    assert status == 2


def test_without_wc_the_subprocess_pool_is_left_out(
    files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    reason = workload.tool_missing()
    assert reason in ("the alveary-subprocess plugin is not installed", "`wc` is not on PATH")
    log = tmp_path / "ev.jsonl"
    args = ["--tasks", "6", "--events", str(log), "--path", str(files), "--timeout", "0.1"]
    status, out = _run(args, capsys)
    assert status == 0, out
    assert [line for line in out.splitlines() if "subprocess pool" in line] == [
        f"subprocess pool left out: {reason}"
    ]
    assert "(hash, compress, analyse) on 8 files" in out
    assert {row[1] for row in _section(out, "agent")} == LOCAL_POOLS
    printed = tomllib.loads(out.split("-" * 72)[1])
    assert printed.get("plugins", {}).get("enabled", []) == (["state"] if STATE else [])
    assert "counted" not in out


def test_wc_counts_reads_the_counts_before_the_name() -> None:
    assert wc_counts("  12  345 6789 docs/a file  with spaces.txt\n") == (12, 345, 6789)
    assert wc_counts("0 0 0 -- odd name\n") == (0, 0, 0)


def test_toml_round_trips_config_shapes() -> None:
    data: dict[str, Any] = {
        "title": 'a "quoted"\tvalue\x7f',
        "orchestrator": {"tick_interval": 0.25, "max_failures": 5, "on": True},
        "plugins": {"enabled": ["a", "b-c"], "weird key": {"x": 1}},
        "pools": [
            {"name": "p", "size": {"min": 1, "max": 2}, "options": {}, "capabilities": []},
            {"name": "q", "labels": {"tier": "ünïcode"}},
        ],
    }
    assert tomllib.loads(toml.dumps(data)) == data


def test_too_few_files_falls_back_to_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    log = tmp_path / "ev.jsonl"
    args = ["--tasks", "9", "--events", str(log), "--path", str(empty), "--timeout", "0.1"]
    status, out = _run(args, capsys)
    assert status == 0, out
    assert "only 0 files" in out
    assert f"distinct files under {workload.package_dir()}:" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "0"], "--tasks must be at least 1"),
        (["--timeout", "0"], "--timeout must be > 0"),
        (["--path", "does-not-exist"], "not a directory"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["demo", "--events", str(tmp_path / "ev.jsonl"), *args])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert message in err


def test_find_files_skips_vcs_venvs_caches_and_the_log(files: Path) -> None:
    log = files / "events.jsonl"
    log.write_text("{}\n", encoding="utf-8")
    found = workload.find_files(files, exclude=[log])
    names = sorted(p.name for p in found)
    assert names == sorted([*(f"file{i}.txt" for i in range(7)), "logo.png"])


async def test_progress_redraws_in_place_on_a_terminal(files: Path, tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    status = await demo(12, str(tmp_path / "ev.jsonl"), str(files), timeout=0.1, out=out)
    assert status == 0
    bar = re.findall(r"\r\[[#.]{20}\] (\d+)/12 ", out.getvalue())
    assert bar
    assert bar[-1] == "12"


async def test_waiting_gives_up_when_nothing_finishes() -> None:
    from alveary.testing import orchestrator
    from alveary_demo._run import _wait

    async with orchestrator() as orch:
        handle = await orch.submit(TaskSpec("x", requires={"nobody-has-this"}))
        await _wait([handle], 0.05)
        assert not handle.done()


def _task(i: int, payload: dict[str, Any], attempt: int = 1) -> Task:
    return Task(f"t-{i}", TaskSpec("x", payload), attempts=attempt)


def test_injected_faults_hit_the_stated_fraction_deterministically(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("some text\n" * 50, encoding="utf-8")
    verdicts = []
    for i in range(400):
        task = _task(i, {"path": str(path), "fail": 0.25})
        try:
            value = compress(task)
        except InjectedFault:
            verdicts.append(False)
        else:
            verdicts.append(True)
            assert value["bytes"] == 500
            assert value["zlib"] < 500
    assert 0.18 < verdicts.count(False) / 400 < 0.32
    again = []
    for i in range(400):
        try:
            compress(_task(i, {"path": str(path), "fail": 0.25}))
        except InjectedFault:
            again.append(False)
        else:
            again.append(True)
    assert again == verdicts


def test_sha256_hashes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    value = sha256(_task(1, {"path": str(path)}))
    assert value["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert value["bytes"] == 3


async def test_analyse_counts_stalls_and_rejects_binary(tmp_path: Path) -> None:
    text = tmp_path / "f.txt"
    text.write_text("one two two\nthree three three\nfour", encoding="utf-8")
    value = await analyse(_task(1, {"path": str(text)}))
    assert (value["lines"], value["words"]) == (3, 7)
    assert value["top"][:2] == [("three", 3), ("two", 2)]

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(analyse(_task(2, {"path": str(text), "stall": 1.0})), 0.05)

    binary = tmp_path / "f.png"
    binary.write_bytes(BINARY)
    with pytest.raises(PermanentFailure, match="not UTF-8 text"):
        await analyse(_task(3, {"path": str(binary)}))


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert percentile([], 50) == 0.0
    assert percentile([7.0], 99) == 7.0
