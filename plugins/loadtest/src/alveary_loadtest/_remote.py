"""A running orchestrator reached through its gateway, with the command-line client's HTTP
client (``--url``, ``--token``, its one-line errors). Requests block, so each runs in a worker
thread: one per task in flight."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from alveary_gateway.client import Client, Failed
from alveary_gateway.command import task_path

from ._inprocess import NO_RESULT
from ._plan import Mix, Spawn

T = TypeVar("T")

POLL = 5.0
"""Seconds of one long-poll for a result: well under the gateway's ``max_wait``."""

LIVE = ("ready", "busy")


class Remote:
    """Drives the orchestrator behind the gateway at ``url``."""

    def __init__(self, url: str, token: str | None, threads: int) -> None:
        self.client = Client(url, token)
        self.name = self.client.url
        self.embedded = False
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="loadtest")
        self._closing = False
        self._restore: tuple[str, dict[str, Any]] | None = None

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(fn, *args, **kwargs))

    async def prepare(self) -> dict[str, Any]:
        """Check the gateway answers, and see what it runs."""
        await self._call(self.client.call, "GET", "/v1/health")
        pools = await self._call(self.client.get, "/v1/pools")
        agents = await self._call(self.client.get, "/v1/agents")
        return {"agents": len(agents), "pools": sorted(p["name"] for p in pools)}

    async def spawn(
        self, spawn: Spawn, capabilities: Iterable[str], ready: Callable[[int], None]
    ) -> list[dict[str, Any]]:
        """Grow ``spawn.pool`` batch by batch through ``PUT /v1/pools/{name}/size`` and wait
        for its agents; the pool's bounds are put back at cleanup."""
        assert spawn.pool is not None
        pools = await self._call(self.client.get, "/v1/pools")
        found = [p for p in pools if p["name"] == spawn.pool]
        if not found:
            raise Failed(f"no pool named {spawn.pool!r} (spawn.pool)")
        self._restore = (spawn.pool, {"min": found[0]["min"], "max": found[0]["max"]})
        path = f"/v1/pools/{spawn.pool}/size"
        batches = []
        done = 0
        while done < spawn.agents:
            size = min(spawn.agents, done + spawn.batch)
            began = time.perf_counter()
            await self._call(self.client.call, "PUT", path, json={"min": size, "max": size})
            while (live := await self._ready(spawn.pool))[0] < size:  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # polls the server
            batches.append({"agents": size - done, "seconds": time.perf_counter() - began})
            done = size
            ready(live[1])
        return batches

    async def _ready(self, pool: str) -> tuple[int, int]:
        """Agents taking work: the pool's, and all."""
        agents = await self._call(self.client.get, "/v1/agents")
        live = [a for a in agents if a["state"] in LIVE]
        return sum(a["pool"] == pool for a in live), len(live)

    async def run(self, mix: Mix) -> tuple[bool, str | None]:
        """Submit one task and long-poll its result: (succeeded, error)."""
        try:
            return await self._call(self._task, mix)
        except Failed as exc:  # refused (a rate limit, say) or the connection went
            return False, str(exc)

    def _task(self, mix: Mix) -> tuple[bool, str | None]:
        body = {
            "kind": mix.kind,
            "payload": mix.payload,
            "requires": sorted(mix.requires),
            "timeout": mix.timeout,
            "max_attempts": mix.attempts,
            "queue_timeout": mix.wait,
        }
        task = self.client.call("POST", "/v1/tasks", json=body).json()["id"]
        deadline = time.monotonic() + mix.wait
        while not self._closing:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            response = self.client.call(
                "GET", task_path(task, "/result"), params={"wait": min(left, POLL)}
            )
            if response.status_code == 200:
                record = response.json()
                if record["state"] == "succeeded":
                    return True, None
                reason = f": {record['error']}" if record.get("error") else ""
                return False, f"{record['state']}{reason}"
        self.client.call("DELETE", task_path(task), accept=(404, 409))
        return False, NO_RESULT

    async def close(self) -> None:
        """Put the pool's bounds back, and let go of the threads."""
        self._closing = True
        try:
            if self._restore is not None:
                pool, size = self._restore
                await self._call(self.client.call, "PUT", f"/v1/pools/{pool}/size", json=size)
        finally:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self.client.close()
