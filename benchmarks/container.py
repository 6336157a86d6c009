"""Container agents under the ``container`` runtime, on Podman's Docker-compatible service.

    uv run python benchmarks/container.py            # about a minute on 2 cores
    uv run python benchmarks/container.py --quick    # fewer agents

Starts its own engine (``podman system service`` on a socket in a temporary directory, vfs
storage) and imports a small image holding only the top-level layout; the host's ``/usr``,
this Python and the repository are mounted read-only, so the agent is ``python -m
alveary.agent`` on the code of this checkout. Nothing is pulled.

1. Start-up, one at a time: agents registered one after another; per agent, the time from
   creating its container to its ``hello`` (the ``protocol.hello`` event): p50, p99.
2. 20 agents starting at once (a pool of 20, 2 CPUs' worth of ``max_starting``): wall time
   until all are ready, hello p50/p99, then echo round trips spread over them.

Prints numbers, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import alveary
import docker
from _common import percentile
from alveary import TaskSpec
from alveary.testing import EventRecorder

ROOT = Path(__file__).resolve().parents[1]
AGENT = """
from alveary.agent import agent

@agent(capabilities=["echo"], version="bench")
def echo(job):
    return job.payload
"""


def engine(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``podman system service`` on a socket under ``root``: the address, once it answers."""
    sock = root / "docker.sock"
    runtime = "runc" if shutil.which("runc") else "crun"
    argv = [
        "podman", "--runtime", runtime, "--cgroup-manager=cgroupfs", "--storage-driver", "vfs",
        "--root", str(root / "storage"), "--runroot", str(root / "run"),
        "system", "service", "--time=0", f"unix://{sock}",
    ]  # fmt: skip
    service = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        if sock.exists():
            with contextlib.suppress(Exception):
                docker.DockerClient(base_url=f"unix://{sock}", timeout=30).close()
                return service, f"unix://{sock}"
        time.sleep(0.1)
    service.kill()
    raise SystemExit("podman system service did not come up")


def image(address: str) -> tuple[str, list[str]]:
    """Import the image; its tag and the host directories the agents need mounted."""
    buffer, mounts = io.BytesIO(), []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("bin", "lib", "lib32", "lib64", "libx32", "sbin", "usr", "tmp", "work"):
            host, info = Path("/") / name, tarfile.TarInfo(name)
            if host.is_symlink():
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(host)
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o1777
                if host.is_dir() and name not in ("tmp", "work"):
                    mounts.append(str(host))
            tar.addfile(info)
    client = docker.DockerClient(base_url=address, timeout=60)
    answer = client.api.import_image_from_data(buffer.getvalue())
    client.images.get(json.loads(answer)["id"]).tag("localhost/alveary-bench", "1")
    client.close()
    return "localhost/alveary-bench:1", mounts


def options(tag: str, mounts: list[str], agents: Path) -> dict[str, Any]:
    paths = sorted({*mounts, sys.base_prefix, sys.prefix, str(ROOT), str(agents)})
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return {
        "image": tag,
        "command": [sys.executable, "-m", "alveary.agent", "bench_agent:echo"],
        "env": {"PYTHONPATH": str(agents)},
        "sources": [{"source": p, "target": p} for p in paths],
        "network": "none",
        "ulimits": {"nofile": min(limit, 4096), "nproc": 4096},
    }


def summary(seconds: list[float]) -> str:
    return f"p50 {percentile(seconds, 50):.3f} s, p99 {percentile(seconds, 99):.3f} s"


async def one_at_a_time(cfg: dict[str, Any], opts: dict[str, Any], n: int) -> list[float]:
    recorder = EventRecorder()
    async with alveary.Orchestrator.from_config(cfg, [recorder]) as orch:
        for i in range(n):
            agent = await orch.register(
                alveary.AgentSpec(f"one-{i}", {"echo"}, runtime="container", options=opts)
            )
            await orch.deregister(agent.id, drain=False)
    return [e.data["seconds"] for e in recorder.events if e.type == "protocol.hello"]


async def at_once(cfg: dict[str, Any], n: int, tasks: int) -> dict[str, Any]:
    recorder = EventRecorder()
    began = time.perf_counter()
    async with alveary.Orchestrator.from_config(cfg, [recorder]) as orch:
        ready = time.perf_counter() - began
        hellos = [e.data["seconds"] for e in recorder.events if e.type == "protocol.hello"]
        t0 = time.perf_counter()
        handles = [await orch.submit(TaskSpec("echo", i)) for i in range(tasks)]
        for handle in handles:
            await handle.result(timeout=120)
        spent = time.perf_counter() - t0
    return {"agents": len(hellos), "ready": ready, "hellos": hellos, "rate": tasks / spent}


async def main(quick: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="alveary-bench-podman-"))
    service, address = engine(root)
    try:
        tag, mounts = image(address)
        agents = root / "agents"
        agents.mkdir()
        (agents / "bench_agent.py").write_text(AGENT)
        opts = options(tag, mounts, agents)
        settings = {"engine": address, "log_dir": str(root / "logs"), "owner": "bench"}
        base = {"plugins": {"enabled": ["container"], "container": settings}}
        n = 10 if quick else 30
        hellos = await one_at_a_time(base, opts, n)
        print(f"start to hello, one at a time ({len(hellos)} agents): {summary(hellos)}")
        pool = {"name": "c", "runtime": "container", "size": {"min": 20, "max": 20},
                "capabilities": ["echo"], "options": opts}  # fmt: skip
        found = await at_once({**base, "pools": [pool]}, 20, 200 if quick else 1000)
        print(
            f"20 agents at once on {os.cpu_count()} CPUs: all ready after {found['ready']:.2f} s; "
            f"start to hello {summary(found['hellos'])}; "
            f"echo tasks over them: {found['rate']:.0f}/s"
        )
    finally:
        service.terminate()
        service.wait(30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer agents")
    asyncio.run(main(parser.parse_args().quick))
