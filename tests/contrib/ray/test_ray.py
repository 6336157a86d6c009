"""The ``ray`` runtime on a real local cluster: pools of actors, hostile handlers and
payloads, an actor killed mid-task, and options that are wrong."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import alveary
import pytest
import ray
from alveary import AgentSpec, AgentState, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator, until
from alveary_ray import Ray

PAYLOADS: list[Any] = [
    'it\'s "quoted" `twice`',
    "$(touch /tmp/owned) ; rm -rf / #",
    "--help",
    "-n 3",
    ["--", "-rf", "$HOME"],
    {"--key": "\x00\n\r\t'\""},
]


def pool(handler: str, **more: Any) -> dict[str, Any]:
    """A config with one pool of ray agents running ``ray_handlers:<handler>``."""
    options = {"handler": f"ray_handlers:{handler}", "num_cpus": 0, **more.pop("options", {})}
    spec = {"name": handler, "runtime": "ray", "options": options, **more}
    return {"pools": [spec]}


def agent(handler: str, name: str | None = None) -> AgentSpec:
    options = {"handler": f"ray_handlers:{handler}", "num_cpus": 0}
    return AgentSpec(name or handler, {handler}, runtime="ray", options=options)


async def test_agents_run_the_decorated_function_and_fail_cleanly() -> None:
    recorder = EventRecorder()
    config = pool("echo", capabilities=["echo"], capacity=4, size={"min": 2, "max": 2})
    async with orchestrator(config, Ray(), recorder) as orch:
        await until(lambda: len(orch.agents()) == 2 and _all_ready(orch), timeout=120)
        others = ("unpicklable", "refuse", "sleep")
        await asyncio.gather(*(orch.register(agent(name)) for name in others))

        handles = [await orch.submit(TaskSpec("echo", p, requires={"echo"})) for p in PAYLOADS]
        outcomes = [await h.result(timeout=60) for h in handles]
        assert [o.value for o in outcomes] == PAYLOADS
        assert {orch.agent(o.agent_id).pool for o in outcomes} == {"echo"}

        odd = await orch.submit(TaskSpec("t", 1, requires={"unpicklable"}, max_attempts=1))
        outcome = await odd.result(timeout=60)
        assert outcome.state is TaskState.DEAD
        assert "pickle" in (outcome.error or ""), outcome.error

        refused = await orch.submit(TaskSpec("t", 1, requires={"refuse"}, max_attempts=3))
        outcome = await refused.result(timeout=60)
        assert outcome.state is TaskState.FAILED
        assert outcome.attempts == 1
        assert "never: bad input" in (outcome.error or "")

        # a plain function that hangs: its thread runs on, the attempt and the agent do not
        stuck = await orch.submit(TaskSpec("t", 1, requires={"sleep"}, timeout=600))
        await recorder.wait_for("task.running", task_id=stuck.id, timeout=60)
        assert await stuck.cancel()
        assert (await stuck.result(timeout=60)).state is TaskState.CANCELLED
        timed = await orch.submit(TaskSpec("t", 1, requires={"sleep"}, timeout=0.5, max_attempts=1))
        assert "timed out" in ((await timed.result(timeout=60)).error or "")
        assert orch.agent("sleep").state in (AgentState.READY, AgentState.BUSY)


async def test_a_killed_actor_loses_its_agent_and_the_task_runs_again() -> None:
    recorder = EventRecorder()
    config = pool("second_time", capabilities=["work"], size={"min": 1, "max": 1})
    async with orchestrator(config, Ray(), recorder) as orch:
        handle = await orch.submit(TaskSpec("work", "$(x) -y", requires={"work"}, timeout=120))
        running = await recorder.wait_for("task.running", task_id=handle.id, timeout=120)
        first = orch.agent(running.agent_id)
        actor = await asyncio.to_thread(ray.get_actor, f"{first.name}-{first.id}", "alveary")
        await asyncio.to_thread(ray.kill, actor)

        outcome = await handle.result(timeout=120)
        assert outcome.ok, outcome
        assert outcome.value == {"attempt": 2, "payload": "$(x) -y"}
        assert outcome.agent_id != first.id
        failed = recorder.of("agent.failed", agent_id=first.id)
        assert failed
        assert "actor died" in failed[0].data["reason"]
        assert orch.agent(outcome.agent_id).pool == "second_time"


async def test_a_handler_that_cannot_load_fails_the_start_saying_why() -> None:
    handlers = {"lost": "no_such_module:fn", "odd": "ray_handlers:not_callable"}
    async with orchestrator({}, Ray()) as orch:
        specs = [AgentSpec(n, runtime="ray", options={"handler": h}) for n, h in handlers.items()]
        errors = await asyncio.gather(*map(orch.register, specs), return_exceptions=True)
        assert orch.agents() == []
    lost, odd = (str(error) for error in errors)
    assert "cannot import handler 'no_such_module:fn'" in lost
    assert "No module named 'no_such_module'" in lost
    assert "handler 'ray_handlers:not_callable' is not callable" in odd


BAD_OPTIONS = [
    ({"num_cpus": float("nan")}, "num_cpus: expected a finite number, got nan"),
    ({"num_gpus": -1}, "num_gpus: expected a number >= 0, got -1"),
    ({"resources": {"accelerator": -1}}, "resources: expected amounts >= 0"),
    ({"handler": "--help:now"}, "handler: expected 'package.module:function'"),
    ({"handler": "$(touch x)"}, "handler: expected 'package.module:function'"),
    ({"max_restarts": 3}, "max_restarts: not an option of the ray runtime"),
    ({"num_cpu": 1}, "num_cpu"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_bad_options_are_one_config_error(options: dict[str, Any], message: str) -> None:
    config = pool("echo", options=options)
    with pytest.raises(alveary.ConfigError) as caught:
        alveary.Orchestrator.from_config(config, [Ray()])
    lines = str(caught.value).strip().splitlines()
    assert len(lines) == 1, lines
    assert "pools[0].options" in lines[0]
    assert message in lines[0]


def test_alveary_check_reports_bad_options_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "alveary.toml").write_text(
        '[plugins]\nenabled = ["ray"]\n\n[[pools]]\nname = "p"\nruntime = "ray"\n'
        'options = { handler = "ray_handlers:echo", num_cpus = nan }\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "alveary", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    problems = [line for line in done.stderr.splitlines() if "num_cpus" in line]
    assert problems == [
        "alveary.toml:7: pools[0].options: num_cpus: expected a finite number, got nan"
    ], done.stderr


def _all_ready(orch: alveary.Orchestrator) -> bool:
    return all(a.state is AgentState.READY for a in orch.agents())


UNREACHABLE = """
import asyncio
from alveary import AgentState, Orchestrator
from alveary.testing import until

config = {
    "plugins": {"enabled": ["ray"], "ray": {"address": "127.0.0.1:1"}},
    "orchestrator": {"shutdown_timeout": 2.0, "start_timeout": 2.0, "tick_interval": 0.05},
    "pools": [{"name": "p", "runtime": "ray", "options": {"handler": "m:f"}}],
}

async def main():
    async with Orchestrator.from_config(config) as orch:
        # p-1 failed to start (start_timeout) and its pool started p-2 in its place
        await until(lambda: any(a.name != "p-1" for a in orch.agents()), timeout=120)
        assert not [a for a in orch.agents() if a.state is AgentState.READY]
    print("stopped")

asyncio.run(main())
"""


def test_an_unreachable_cluster_neither_wedges_the_loop_nor_stop(tmp_path: Path) -> None:
    """Nothing answers at the address: each start times out (the loop runs on meanwhile),
    and the orchestrator stops and the process exits with the connection still trying."""
    done = subprocess.run(
        [sys.executable, "-c", UNREACHABLE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "stopped", done.stdout


async def test_job_log_lines_reach_the_workers_log() -> None:
    # The same handler logs to the agent's log under subprocess; under ray each line goes to
    # the actor's standard error, which Ray keeps (and forwards to the orchestrator's terminal).
    marker = f"marker-{uuid.uuid4().hex}"
    async with orchestrator({}, Ray()) as orch:
        await orch.register(agent("chatty"))
        handle = await orch.submit(TaskSpec("t", marker, requires={"chatty"}))
        assert (await handle.result(timeout=60)).value == "read"
    logs = Path(ray._private.worker._global_node.get_logs_dir_path())

    def lines() -> list[str]:
        return [
            line
            for path in logs.glob("worker-*.err")
            for line in path.read_text(errors="replace").splitlines()
            if f"task {handle.id} " in line
        ]

    await until(lambda: len(lines()) == 2, timeout=30)
    assert lines() == [
        f"[info] task {handle.id} reading {marker}",
        f"[debug] task {handle.id} almost there",
    ]
