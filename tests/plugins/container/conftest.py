"""Fixtures for the container runtime's tests: a real engine (Podman's Docker-compatible
service on a socket of its own, storage in a temporary directory) and a small image made
here, nothing pulled. The storage driver is ``vfs``: the image is tiny, and nothing is left
mounted when the service ends. The image holds only the top-level layout; the host's ``/usr``, this
Python and the repository are mounted read-only, so agents run the code under test.

Helpers are fixtures because test modules cannot import this file under
``--import-mode=importlib``.
"""

from __future__ import annotations

import contextlib
import hashlib
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import alveary.testing
import docker
import pytest

REPO = Path(__file__).parents[3]
AGENTS = Path(__file__).parent / "agents"
PYTHON = sys.executable
_TOP = ("bin", "lib", "lib32", "lib64", "libx32", "sbin", "usr")


def _podman_service(root: Path, runtime: str) -> tuple[subprocess.Popen[bytes], str]:
    sock = root / "docker.sock"
    argv = [
        "podman", "--runtime", runtime, "--cgroup-manager=cgroupfs",
        "--storage-driver", "vfs", "--root", str(root / "storage"), "--runroot", str(root / "run"),
        "system", "service", "--time=0", f"unix://{sock}",
    ]  # fmt: skip
    with open(root / "service.log", "wb") as log:
        service = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(Exception):
            if sock.exists():
                client = docker.DockerClient(base_url=f"unix://{sock}", timeout=30)
                client.close()
                break
        if service.poll() is not None or time.monotonic() > deadline:
            service.kill()
            log = (root / "service.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"podman system service did not come up: {log}")
        time.sleep(0.1)
    return service, f"unix://{sock}"


def _layout() -> tuple[bytes, list[str]]:
    """The image's root filesystem (a tarball) and the host directories to mount: on a
    merged-/usr system ``/bin`` and ``/lib`` are links into ``/usr``, kept as links."""
    buffer = io.BytesIO()
    mounts = []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in _TOP:
            host = Path("/") / name
            info = tarfile.TarInfo(name)
            if host.is_symlink():
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(host)
            elif host.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                mounts.append(str(host))
            else:
                continue
            tar.addfile(info)
        for name in ("tmp", "workspace", "src", "etc", "root"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
    return buffer.getvalue(), mounts


@pytest.fixture(scope="session")
def engine() -> Iterator[str]:
    """The address of a Docker-API engine (Podman's service) for this test session."""
    if shutil.which("podman") is None:
        if os.environ.get("CI"):  # .ci/run installs it: its absence there is a failure
            pytest.fail("podman is not installed (.ci/run installs podman and runc)")
        pytest.skip("podman is not installed (apt-get install podman runc)")
    runtime = "runc" if shutil.which("runc") else "crun"
    root = Path(tempfile.mkdtemp(prefix="alveary-podman-"))
    service, address = _podman_service(root, runtime)
    try:
        yield address
    finally:
        with contextlib.suppress(Exception):
            client = docker.DockerClient(base_url=address, timeout=60)
            for container in client.containers.list(all=True):
                container.remove(force=True)
            client.close()
        service.terminate()
        try:
            service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def image(engine: str) -> str:
    """The test image, imported once per session under a tag of its content's hash."""
    tarball, _ = _layout()
    tag = f"localhost/alveary-test:{hashlib.sha256(tarball).hexdigest()[:16]}"
    client = docker.DockerClient(base_url=engine, timeout=60)
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        answer = client.api.import_image_from_data(tarball)
        repository, _, version = tag.partition(":")
        client.images.get(json.loads(answer)["id"]).tag(repository, version)
    client.close()
    return tag


def _sources() -> list[dict[str, str]]:
    _, mounts = _layout()
    paths = {*mounts, sys.base_prefix, sys.prefix, str(REPO)}
    return [{"source": p, "target": p} for p in sorted(paths)]


def _ulimits() -> dict[str, int]:
    """Limits no higher than this machine's own (an engine may not raise them)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    pick = {"nofile": min(nofile, 4096), "nproc": min(nproc, 4096)}
    return {k: v for k, v in pick.items() if v > 0}


@pytest.fixture
def options(image: str) -> Callable[..., dict[str, Any]]:
    """``options("boxed:echo", **more)``: a container pool's options running an agent of
    ``agents/boxed.py`` with ``python -m alveary.agent``; ``options(command=[...])`` runs
    another command."""

    def build(target: str | None = None, **more: Any) -> dict[str, Any]:
        command = [PYTHON, "-m", "alveary.agent", target] if target else []
        env = {"PYTHONPATH": str(AGENTS), **more.pop("env", {})}
        return {
            "image": image,
            "command": more.pop("command", command),
            "sources": _sources() + more.pop("sources", []),
            "network": "none",
            "ulimits": _ulimits(),
            "env": env,
            **more,
        }

    return build


@pytest.fixture
def hostile_cmd() -> Callable[[str], list[str]]:
    return lambda mode: [PYTHON, str(AGENTS / "hostile.py"), mode]


@pytest.fixture
def config(tmp_path: Path, engine: str) -> Callable[..., dict[str, Any]]:
    """``config(pool, ..., container={...}, orchestrator={...})``: a config enabling the
    plugin on the test engine, logs under ``tmp_path``."""

    def build(*pools: dict[str, Any], **sections: Any) -> dict[str, Any]:
        settings = {
            "engine": engine,
            "log_dir": str(tmp_path / "logs"),
            **sections.pop("container", {}),
        }
        return {
            "plugins": {"enabled": ["container"], "container": settings},
            "pools": list(pools),
            **sections,
        }

    return build


@pytest.fixture
def pool() -> Callable[..., dict[str, Any]]:
    """``pool(name, capabilities, options, size=1)``: a ``[[pools]]`` entry."""

    def build(
        name: str, capabilities: list[str], options: dict[str, Any], size: int = 1
    ) -> dict[str, Any]:
        return {
            "name": name,
            "runtime": "container",
            "size": {"min": size, "max": size},
            "capabilities": capabilities,
            "options": options,
        }

    return build


@pytest.fixture
def until() -> Callable[..., Any]:
    return alveary.testing.until
