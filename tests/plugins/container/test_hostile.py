"""Containers that misbehave, engines that refuse, an orchestrator that died: every start
fails with a clear reason and leaves no container behind; work on a killed container is
retried elsewhere; a dead run's containers are removed."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import alveary
import docker
import pytest
from alveary import AgentSpec, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator
from alveary_container import AGENT, OWNER, Config, ContainerRuntime

NASTY = ["-rf", "$(touch /tmp/pwned)", "`id`", "'; exit 1; '", '"\\"', "--help", "\x00\n", "ünï"]


def containers(engine: str, **labels: str) -> list[tuple[str, dict[str, str]]]:
    """The ids and labels of the containers with ``labels``."""
    client = docker.DockerClient(base_url=engine, timeout=60)
    try:
        found = client.containers.list(
            all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]}
        )
        return [(c.id, c.labels) for c in found]
    finally:
        client.close()


async def start_fails(cfg: dict, options: dict, name: str = "a") -> str:
    async with orchestrator(cfg) as orch:
        spec = AgentSpec(name, {"work"}, runtime="container", options=options)
        with pytest.raises(alveary.StartFailed) as info:
            await orch.register(spec)
        assert orch.agents() == []
    return str(info.value)


async def test_silence_at_start_times_out(config, options, hostile_cmd, engine) -> None:
    opts = options(command=hostile_cmd("silent"), start_timeout=2)
    reason = await start_fails(config(container={"owner": "silent"}), opts)
    assert "no hello within 2 s" in reason
    assert "thinking about it" in reason  # its standard error, in the reason
    assert containers(engine, **{OWNER: "silent"}) == []


async def test_an_agent_exiting_at_once_fails_its_start(config, options, hostile_cmd, engine):
    reason = await start_fails(
        config(container={"owner": "exits"}), options(command=hostile_cmd("exit"))
    )
    assert reason.endswith(
        "the container exited with code 7 before its hello; "
        "last output: fatal: no model in this image"
    )
    assert containers(engine, **{OWNER: "exits"}) == []


async def test_garbage_on_stdout_gets_the_container_killed(
    config, options, hostile_cmd, engine, tmp_path
) -> None:
    cfg = config(container={"owner": "flood", "max_bad_lines": 5})
    reason = await start_fails(cfg, options(command=hostile_cmd("flood"), max_line=10_000))
    assert "5 malformed protocol lines in a row" in reason, reason
    assert reason.endswith("before its hello; the agent was killed")
    assert containers(engine, **{OWNER: "flood"}) == []
    assert (tmp_path / "logs" / "a.log").stat().st_size < 50 * 2**20


async def test_a_missing_image_or_a_hostile_name_is_one_clear_line(config, options) -> None:
    for image in ("localhost/no-such-image:1", "--privileged", "$(reboot)"):
        reason = await start_fails(config(), options("boxed:echo", image=image))
        assert reason.count("\n") == 0
        assert "container engine:" in reason, reason


async def test_an_unreachable_engine_fails_the_start_clearly(config, options, tmp_path) -> None:
    cfg = config(container={"engine": f"unix://{tmp_path}/nothing.sock", "api_timeout": 5})
    reason = await start_fails(cfg, options("boxed:echo"))
    assert "cannot reach the container engine" in reason


def test_bad_options_are_refused(options) -> None:
    runtime = ContainerRuntime(Config())
    bad = [
        ({"image": ""}, "image: required"),
        ({"ulimits": {"rss": 5}}, "unknown limit 'rss'"),
        ({"cwd": "/tmp"}, "cwd: not for containers"),
        ({"workdir": "relative"}, "not an absolute path"),
        ({"memory": -1}, "memory"),
        ({"sources": [{"source": "x", "target": "/y"}]}, "not an absolute path"),
    ]
    for change, problem in bad:
        spec = AgentSpec("a", runtime="container", options={**options("boxed:echo"), **change})
        with pytest.raises(ValueError, match=problem):
            runtime.validate(spec)


async def test_payloads_reach_the_agent_as_data(config, pool, options) -> None:
    async with orchestrator(config(pool("e", ["echo"], options("boxed:echo")))) as orch:
        handles = [await orch.submit(TaskSpec("echo", p, requires={"echo"})) for p in NASTY]
        values = [(await h.result(timeout=60)).value for h in handles]
    assert values == NASTY


async def test_a_container_killed_mid_task_has_its_work_retried(
    config, pool, options, engine, until
) -> None:
    recorder = EventRecorder()
    cfg = config(pool("w", ["work"], options("boxed:stuck_first")), container={"owner": "kill"})
    async with orchestrator(cfg, recorder) as orch:
        handle = await orch.submit(TaskSpec("work", "-x $(y)", requires={"work"}))
        await until(lambda: handle.task.state is TaskState.RUNNING, timeout=60)
        [(victim, _)] = containers(engine, **{OWNER: "kill"})
        client = docker.DockerClient(base_url=engine, timeout=60)
        client.api.kill(victim)  # from outside, as an operator or the OOM killer would
        client.close()
        outcome = await handle.result(timeout=120)
    assert outcome.state is TaskState.SUCCEEDED, outcome
    assert outcome.value == {"payload": "-x $(y)", "attempt": 2}
    health = [e.data for e in recorder.events if e.type == "agent.health"]
    assert health[0]["to"] == "failed"
    assert health[0]["reason"].startswith("the container exited with code 137")
    assert containers(engine, **{OWNER: "kill"}) == []


async def test_a_restart_removes_the_containers_a_dead_run_left(
    config, pool, options, engine, until, tmp_path
) -> None:
    cfg = config(pool("w", ["echo"], options("boxed:echo"), size=2), container={"owner": "dead"})
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from alveary.testing import orchestrator
        async def main():
            async with orchestrator({cfg!r}) as orch:
                print("ready", flush=True)
                await asyncio.Event().wait()
        asyncio.run(main())
        """
    )
    dead = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert dead.stdout is not None
        assert await asyncio.wait_for(dead.stdout.readline(), 120) == b"ready\n"
        assert len(containers(engine, **{OWNER: "dead"})) == 2
    finally:
        dead.kill()  # SIGKILL: no shutdown hook runs
        await dead.wait()
    left = {labels[AGENT] for _, labels in containers(engine, **{OWNER: "dead"})}
    assert left == {"w-1", "w-2"}  # killed at once: its containers run on
    recorder = EventRecorder()
    async with orchestrator(cfg, recorder) as orch:
        await until(lambda: len(orch.agents()) == 2, timeout=60)
        running = containers(engine, **{OWNER: "dead"})
        removed = [e.data for e in recorder.events if e.type == "container.leftover_removed"]
        value = (await (await orch.submit(TaskSpec("echo", 1))).result(60)).value
    assert sorted(r["agent"] for r in removed) == ["w-1", "w-2"]
    assert len(running) == 2  # the new run's own, and no other
    assert value == 1
    assert containers(engine, **{OWNER: "dead"}) == []
