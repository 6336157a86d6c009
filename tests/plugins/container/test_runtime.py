"""The runtime against a real engine: the contract every runtime keeps, what a container is
made of (labels, mounts, limits, environment), and how it is stopped and removed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker
import pytest
from alveary import AgentSpec, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator
from alveary.testing.contracts import RuntimeContract
from alveary_container import AGENT, INSTANCE, OWNER, POOL, RUNTIME, Config, Container


class TestContainerRuntime(RuntimeContract):
    deadline = 120.0

    @pytest.fixture
    def plugin(self, engine: str, tmp_path: Any) -> Container:
        return Container(Config(engine=engine, log_dir=str(tmp_path / "logs")))

    @pytest.fixture
    def spec(self, options: Callable[..., dict[str, Any]]) -> Callable[[str, str], AgentSpec]:
        caps = {"echo": "echo", "fail": "t", "hang": "hang"}
        return lambda behaviour, name: AgentSpec(
            name,
            runtime="container",
            capabilities={caps[behaviour]},
            options=options(f"boxed:{behaviour}"),
        )


def _client(engine: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=engine, timeout=60)


async def test_a_container_is_labelled_limited_and_mounted(
    config, pool, options, engine, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TOKEN_X", "s3cr3t-value-$(whoami)")
    work = tmp_path / "work"
    src = tmp_path / "src"
    src.mkdir()
    opts = options(
        "boxed:inside",
        workspace=str(work),
        sources=[{"source": str(src), "target": "/src"}],
        memory=256 * 2**20,
        cpus=0.5,
        secrets=["TOKEN_X"],
    )
    recorder = EventRecorder()
    cfg = config(pool("box", ["inside"], opts), container={"owner": "labels-test"})
    async with orchestrator(cfg, recorder) as orch:
        agent = orch.agents()[0]
        client = _client(engine)
        found = client.containers.list(filters={"label": f"{AGENT}={agent.name}"})
        assert len(found) == 1
        labels = found[0].labels
        assert labels[RUNTIME] == "container"
        assert labels[OWNER] == "labels-test"
        assert labels[POOL] == "box"
        assert labels[INSTANCE]
        host = found[0].attrs["HostConfig"]
        assert host["Memory"] == 256 * 2**20
        assert host["NanoCpus"] == 500_000_000
        env_inside = found[0].attrs["Config"]["Env"]
        handle = await orch.submit(TaskSpec("inside", "-rf $(rm) 'q\"", requires={"inside"}))
        outcome = await handle.result(timeout=60)
        client.close()
    assert outcome.state is TaskState.SUCCEEDED, outcome
    value = outcome.value
    assert value["cwd"] == "/workspace"
    assert value["wrote"] == ["/workspace"]  # sources are read-only
    assert (work / agent.name / "probe.txt").read_text() == "-rf $(rm) 'q\""
    assert value["env"]["TOKEN_X"] == "***"  # set in the container, masked on the way out
    assert "TOKEN_X=s3cr3t-value-$(whoami)" in env_inside
    assert value["env"]["ALVEARY_AGENT"] == agent.name
    assert value["payload"] == "-rf $(rm) 'q\""
    log = (tmp_path / "logs" / f"{agent.name}.log").read_text()
    assert "s3cr3t-value" not in log
    assert "s3cr3t-value" not in repr([e.data for e in recorder.events])
    client = _client(engine)
    assert client.containers.list(all=True, filters={"label": f"{AGENT}={agent.name}"}) == []
    client.close()


async def test_heartbeats_carry_the_containers_cpu_and_memory(config, pool, options, until) -> None:
    cfg = config(pool("hb", ["echo"], options("boxed:echo", heartbeat=0.2)))
    async with orchestrator(cfg) as orch:
        agent = orch.agents()[0]
        await until(lambda: "container_memory_bytes" in agent.metrics, timeout=60)
        assert agent.metrics["container_memory_bytes"] > 0
        assert agent.metrics["container_cpu_percent"] >= 0


async def test_stop_is_graceful_then_the_container_is_removed(
    config, pool, options, engine, tmp_path
) -> None:
    cfg = config(pool("g", ["echo"], options("boxed:echo")), container={"owner": "graceful"})
    async with orchestrator(cfg) as orch:
        agent = orch.agents()[0]
        await orch.deregister(agent.id)
        client = _client(engine)
        left = client.containers.list(all=True, filters={"label": f"{AGENT}={agent.name}"})
        client.close()
    assert left == []
    log = (tmp_path / "logs" / f"{agent.name}.log").read_text()
    assert "stopped" in log
    assert "killing" not in log  # it left on shutdown, within the grace
