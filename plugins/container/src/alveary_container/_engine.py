"""The one module that talks to the engine, through the ``docker`` SDK (Docker Engine API;
Podman's Docker-compatible service speaks it too). Calls block: ``Engine.call`` runs them on
the engine's own threads, so a slow engine never holds up the event loop or other work."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
import docker
import docker.errors
import docker.types
import requests.exceptions

T = TypeVar("T")

_DEFAULT = "unix:///var/run/docker.sock"
"""Where the engine listens when neither the config nor ``DOCKER_HOST`` says."""

_REMOVE_TRIES = 4


class EngineError(Exception):
    """The engine refused a call or could not be reached; the message is the engine's."""


class NotThere(EngineError):
    """The container (or image) does not exist (any more)."""


@attrs.frozen
class Spec:
    """Everything a container is created with."""

    image: str
    name: str
    command: tuple[str, ...]
    env: Mapping[str, str]
    labels: Mapping[str, str]
    workdir: str | None = None
    mounts: tuple[tuple[str, str, bool], ...] = ()
    """``(host path, container path, read_only)``."""
    memory: int | None = None
    cpus: float | None = None
    network: str | None = None
    user: str | None = None
    ulimits: Mapping[str, int] = attrs.field(factory=dict)


@attrs.frozen
class Found:
    """A container found by its labels."""

    id: str
    name: str
    labels: Mapping[str, str]
    status: str


@attrs.frozen
class Usage:
    """A running container's resource use."""

    cpu_percent: float
    """Of one CPU, since the engine's previous sample (0 without one)."""
    memory_bytes: float


class Engine:
    """A client of one engine, with threads of its own for its blocking calls."""

    def __init__(self, address: str, timeout: float, threads: int = 32) -> None:
        self._address = address
        self._timeout = timeout
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="alveary-container")
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    def client(self) -> docker.DockerClient:
        """The SDK's client, made by the first call (which asks the engine its version)."""
        with self._lock:
            if self._client is None:
                address = self._address or os.environ.get("DOCKER_HOST", _DEFAULT)
                if address.startswith("unix://"):
                    _probe(address.removeprefix("unix://"), self._timeout)
                self._client = docker.DockerClient(
                    base_url=address, timeout=int(self._timeout), max_pool_size=64
                )
            return self._client

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the engine's threads; engine failures become ``EngineError``."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, _guarded, fn, args)

    async def close(self) -> None:
        """Let the calls under way end (each within the API timeout), then close the
        client's connections."""
        await asyncio.to_thread(self._threads.shutdown, True, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    # -- blocking calls (through ``call``) ------------------------------------------------

    def create(self, spec: Spec) -> str:
        """Create (not start) a container whose standard input stays open; its id."""
        host = self.client().api.create_host_config(
            mounts=[
                docker.types.Mount(target, source, type="bind", read_only=read_only)
                for source, target, read_only in spec.mounts
            ],
            mem_limit=spec.memory,
            memswap_limit=spec.memory,
            nano_cpus=None if spec.cpus is None else round(spec.cpus * 1e9),
            network_mode=spec.network,
            ulimits=[
                docker.types.Ulimit(name=name, soft=value, hard=value)
                for name, value in spec.ulimits.items()
            ]
            or None,
        )
        created = self.client().api.create_container(
            spec.image,
            command=list(spec.command) or None,
            name=spec.name,
            environment=dict(spec.env),
            labels=dict(spec.labels),
            working_dir=spec.workdir,
            user=spec.user,
            stdin_open=True,
            tty=False,
            host_config=host,
        )
        return str(created["Id"])

    def attach(self, container: str) -> socket.socket:
        """A socket to the container's standard input, output and error (its own copy:
        the SDK's response is closed)."""
        raw: Any = self.client().api.attach_socket(
            container, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        sock = getattr(raw, "_sock", raw)
        if not isinstance(sock, socket.socket):
            raise EngineError(f"cannot attach over this engine address ({type(sock).__name__})")
        mine = sock.dup()
        response = getattr(raw, "_response", None)  # the SDK keeps it alive there
        if response is not None:
            response.close()
        sock.close()
        raw.close()
        return mine

    def start(self, container: str) -> None:
        self.client().api.start(container)

    def wait(self, container: str) -> int:
        """Wait for the container to end; its exit status."""
        status = self.client().api.wait(container)
        return int(status.get("StatusCode", -1))

    def stop(self, container: str, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        self.client().api.stop(container, timeout=max(0, round(grace)))

    def kill(self, container: str) -> None:
        self.client().api.kill(container)

    def remove(self, container: str) -> None:
        """Remove the container, killing it if it runs; gone already is fine.

        A container that stops on its own while it is being removed can make the engine refuse
        the kill ("container state improper"); it is stopped by then, so the call is tried
        again after a moment, a few times, before the refusal is reported."""
        for attempt in range(_REMOVE_TRIES):
            try:
                self.client().api.remove_container(container, force=True)
            except docker.errors.NotFound:
                return
            except docker.errors.APIError:
                if attempt == _REMOVE_TRIES - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))
            else:
                return

    def find(self, labels: Mapping[str, str]) -> list[Found]:
        """Every container (running or not) carrying all of ``labels``."""
        listed = self.client().api.containers(
            all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]}
        )
        return [
            Found(
                id=str(entry["Id"]),
                name=str((entry.get("Names") or ["?"])[0]).lstrip("/"),
                labels=dict(entry.get("Labels") or {}),
                status=str(entry.get("State", "")),
            )
            for entry in listed
        ]

    def usage(self, container: str) -> Usage:
        stats: dict[str, Any] = self.client().api.stats(container, stream=False)
        return usage_of(stats)


def usage_of(stats: Mapping[str, Any]) -> Usage:
    """CPU and memory from a stats answer (Docker's and Podman's share the shape)."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = _number(cpu, "cpu_usage", "total_usage") - _number(pre, "cpu_usage", "total_usage")
    system = _number(cpu, "system_cpu_usage") - _number(pre, "system_cpu_usage")
    cpus = _number(cpu, "online_cpus") or 1.0
    percent = used / system * cpus * 100.0 if used > 0 and system > 0 else 0.0
    memory = _number(stats.get("memory_stats") or {}, "usage")
    return Usage(cpu_percent=round(percent, 3), memory_bytes=memory)


def _number(data: Mapping[str, Any], *path: str) -> float:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _probe(path: str, timeout: float) -> None:
    """Connect to the engine's socket once: a missing one is one clear line (the SDK would
    raise from deep inside, and leave its socket open)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(path)
        except OSError as exc:
            raise EngineError(
                f"cannot reach the container engine at unix://{path}: {exc.strerror or exc}"
            ) from None


def _guarded(fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    try:
        return fn(*args)
    except docker.errors.NotFound as exc:
        raise NotThere(_explain(exc)) from None
    except docker.errors.APIError as exc:
        raise EngineError(_explain(exc)) from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"cannot reach the container engine: {exc}") from None


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)
