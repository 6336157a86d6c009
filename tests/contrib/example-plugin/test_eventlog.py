"""The eventlog plugin, enabled through its entry point in a real orchestrator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from alveary import AgentSpec, Orchestrator, PermanentFailure, PluginError, Task, TaskSpec
from alveary.testing import EventRecorder, echo, orchestrator, until
from alveary_example_eventlog import EventLog


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def fail(task: Task) -> None:
    raise PermanentFailure(f"cannot do {task.payload}")


def eventlog(path: Path, **settings: Any) -> dict[str, Any]:
    return {"plugins": {"enabled": ["eventlog"], "eventlog": {"path": str(path), **settings}}}


async def test_every_event_is_written_in_order(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "events.jsonl"
    recorder = EventRecorder()
    async with orchestrator(eventlog(path), recorder) as orch:
        assert isinstance(orch.plugins["eventlog"], EventLog)
        await orch.register(AgentSpec("worker", {"echo"}, capacity=2, options={"handler": echo}))
        ok = await orch.submit(TaskSpec("echo", {"n": 1}, requires={"echo"}))
        await orch.register(AgentSpec("failer", {"fail"}, options={"handler": fail}))
        bad = await orch.submit(TaskSpec("fail", "that", requires={"fail"}))
        assert (await ok.result()).value == {"n": 1}
        assert (await bad.result()).error == "PermanentFailure: cannot do that"

    written = read(path)
    assert written == [json.loads(json.dumps(attrs.asdict(e))) for e in recorder.events]
    assert written[0]["type"] == "orchestrator.started"
    assert written[-1]["type"] == "orchestrator.stopped"
    assert [e["seq"] for e in written] == sorted({e["seq"] for e in written})
    assert [e["type"] for e in written if e["task_id"] == ok.id] == [
        "task.pending",
        "task.assigned",
        "task.running",
        "task.succeeded",
    ]
    failed = next(e for e in written if e["type"] == "task.failed")
    assert failed["task_id"] == bad.id
    assert failed["data"] == {"attempts": 1, "error": "PermanentFailure: cannot do that"}


async def test_types_keeps_matching_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    async with orchestrator(eventlog(path, types=["agent", "task.succeeded"])) as orch:
        await orch.register(AgentSpec("worker", {"echo"}, options={"handler": echo}))
        await (await orch.submit(TaskSpec("echo", requires={"echo"}))).result()

    types = [e["type"] for e in read(path)]
    assert types == [
        "agent.starting",
        "agent.ready",
        "agent.busy",
        "agent.ready",
        "task.succeeded",
        "agent.draining",
        "agent.stopped",
    ]


async def test_the_file_is_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for _ in range(2):
        async with orchestrator(eventlog(path, types=["orchestrator"])):
            pass
    assert [e["type"] for e in read(path)] == ["orchestrator.started", "orchestrator.stopped"] * 2


async def test_events_wait_in_the_buffer_until_a_flush(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    settings = eventlog(path, flush_every=1000) | {"orchestrator": {"tick_interval": 3600}}
    async with orchestrator(settings) as orch:
        await orch.register(AgentSpec("worker", {"echo"}, options={"handler": echo}))
        await (await orch.submit(TaskSpec("echo", requires={"echo"}))).result()
        assert read(path) == []
    assert "task.succeeded" in [e["type"] for e in read(path)]


async def test_a_full_buffer_is_written_without_a_tick(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    settings = eventlog(path, flush_every=2) | {"orchestrator": {"tick_interval": 3600}}
    async with orchestrator(settings) as orch:
        await orch.register(AgentSpec("worker", {"echo"}, options={"handler": echo}))
        # orchestrator.started and agent.starting fill the buffer; agent.ready waits in it.
        await until(lambda: len(read(path)) == 2)
        assert [e["type"] for e in read(path)] == ["orchestrator.started", "agent.starting"]
    assert [e["type"] for e in read(path)][2] == "agent.ready"


async def test_a_tick_writes_the_buffer(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    async with orchestrator(eventlog(path, flush_every=1000)) as orch:
        await orch.register(AgentSpec("worker", {"echo"}, options={"handler": echo}))
        await until(lambda: [e["type"] for e in read(path)][-1:] == ["agent.ready"])


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
async def test_a_failing_write_is_reported_and_the_orchestrator_goes_on() -> None:
    recorder = EventRecorder()
    async with orchestrator(eventlog(Path("/dev/full"), flush_every=1), recorder) as orch:
        await orch.register(AgentSpec("worker", {"echo"}, options={"handler": echo}))
        await until(lambda: "plugin.failed" in recorder.types())
        outcome = await (await orch.submit(TaskSpec("echo", "still", requires={"echo"}))).result()
        assert outcome.value == "still"
    failure = next(e for e in recorder.events if e.type == "plugin.failed")
    assert failure.data["plugin"] == "eventlog"
    assert failure.data["hook"] == "alveary_tick"
    assert "could not write events to /dev/full" in failure.data["error"]


async def test_a_file_that_cannot_be_opened_is_reported_and_events_are_counted(
    tmp_path: Path,
) -> None:
    (tmp_path / "taken").write_text("a file, not a directory", encoding="utf-8")
    recorder = EventRecorder()
    config = eventlog(tmp_path / "taken" / "events.jsonl")
    async with orchestrator(config, recorder) as orch:
        await orch.register(AgentSpec("worker", {"echo"}, options={"handler": echo}))
        outcome = await (await orch.submit(TaskSpec("echo", "still", requires={"echo"}))).result()
        assert outcome.value == "still"
        plugin = orch.plugins["eventlog"]
    failure = next(e for e in recorder.events if e.type == "plugin.failed")
    assert (failure.data["plugin"], failure.data["hook"]) == ("eventlog", "alveary_startup")
    assert isinstance(plugin, EventLog)
    assert plugin.dropped == len(recorder.events)  # its own startup failure included


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ({"pth": "x"}, "<config>: plugins.eventlog.pth: unknown key (did you mean 'path'?)"),
        (
            {"flush_every": 0},
            "<config>: plugins.eventlog.flush_every: expected a number > 0, got 0",
        ),
        ({"types": [1]}, "<config>: plugins.eventlog.types[0]: expected a string, got 1"),
    ],
)
def test_bad_settings_stop_start_up(settings: dict[str, Any], line: str) -> None:
    with pytest.raises(PluginError) as info:
        Orchestrator.from_config({"plugins": {"enabled": ["eventlog"], "eventlog": settings}})
    assert info.value.lines == [line]


def test_check_reports_the_line_of_a_bad_setting(tmp_path: Path) -> None:
    config = tmp_path / "alveary.toml"
    config.write_text(
        '[plugins]\nenabled = ["eventlog"]\n\n[plugins.eventlog]\nflush_every = "often"\n',
        encoding="utf-8",
    )
    alveary = Path(sys.executable).with_name("alveary")
    done = subprocess.run(
        [str(alveary), "check", "--config", str(config)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"{config}:5: plugins.eventlog.flush_every: expected an integer, got 'often'\n"
    )
