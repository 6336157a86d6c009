"""The client side of ``gateway.py``, in a process of its own so that it never shares the
server's event loop:

    python _gateway_load.py submit URL CLIENTS SECONDS
    python _gateway_load.py raw URL CLIENTS SECONDS
    python _gateway_load.py subscribe URL N

``submit``: CLIENTS httpx clients, each on one keep-alive connection, POST /v1/tasks one after
the other; after a second of warm-up it prints ``{"phase": "measuring"}``, then after SECONDS
the count, the time and this process's CPU seconds. ``raw``: the same with a minimal HTTP/1.1
client on asyncio streams instead of httpx, to find the server's limit rather than the
client's. ``subscribe``: N connections reading
``/v1/events`` (raw sockets, discarding the bytes, so the reader costs little); prints
``{"phase": "subscribed"}`` once each has its first frame, and the bytes read once standard
input closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import httpx

BODY = {"kind": "noop", "requires": ["noop"]}
WARMUP = 1.0


async def _client(url: str, start: float, stop: float, counts: list[int], i: int) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        while (now := time.perf_counter()) < stop:
            response = await client.post("/v1/tasks", json=BODY)
            if response.status_code != 202:
                raise RuntimeError(f"submit answered {response.status_code}: {response.text}")
            if now >= start:
                counts[i] += 1


async def _raw(url: str, start: float, stop: float, counts: list[int], i: int) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    body = json.dumps(BODY).encode()
    head = f"POST /v1/tasks HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json"
    request = f"{head}\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body
    while (now := time.perf_counter()) < stop:
        writer.write(request)
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        if not status.startswith(b"HTTP/1.1 202"):
            raise RuntimeError(f"submit answered {status!r}")
        if now >= start:
            counts[i] += 1
    writer.close()


async def submit(url: str, clients: int, seconds: float, raw: bool = False) -> None:
    start = time.perf_counter() + WARMUP
    stop = start + seconds
    counts = [0] * clients
    runs = [(_raw if raw else _client)(url, start, stop, counts, i) for i in range(clients)]
    watch = asyncio.ensure_future(asyncio.gather(*runs))
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    print(json.dumps({"phase": "measuring"}), flush=True)
    cpu = time.process_time()
    await watch
    print(
        json.dumps({"submits": sum(counts), "seconds": seconds, "cpu": time.process_time() - cpu})
    )


async def _subscriber(host: str, port: int, read: list[int], first: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"GET /v1/events HTTP/1.1\r\nhost: {host}:{port}\r\naccept: text/event-stream\r\n\r\n"
    writer.write(head.encode())
    while chunk := await reader.read(1 << 16):
        read[0] += len(chunk)
        first.set()
    writer.close()


async def subscribe(url: str, n: int) -> None:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    read = [0]
    firsts = [asyncio.Event() for _ in range(n)]
    tasks = [
        asyncio.ensure_future(_subscriber(parts.hostname, parts.port, read, first))
        for first in firsts
    ]
    await asyncio.gather(*(first.wait() for first in firsts))
    print(json.dumps({"phase": "subscribed"}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()
    print(json.dumps({"bytes": read[0]}), flush=True)


if __name__ == "__main__":
    command, target = sys.argv[1], sys.argv[2]
    if command in ("submit", "raw"):
        asyncio.run(submit(target, int(sys.argv[3]), float(sys.argv[4]), command == "raw"))
    else:
        asyncio.run(subscribe(target, int(sys.argv[3])))
