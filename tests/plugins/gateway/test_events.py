"""``/v1/events``: live events, type filters, resuming with Last-Event-ID, and a slow
subscriber dropped while dispatch goes on."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from alveary import AgentSpec, Orchestrator, TaskSpec, TaskState

from .conftest import Served, config, echo, gateway_of


async def frames(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Each event of an SSE response as ``{"id", "event", "data"}``."""
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if "event" in current:
                yield current
            current = {}
        elif line.startswith(("id: ", "event: ")):
            key, _, value = line.partition(": ")
            current[key] = value
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])


async def submit_echo(served: Served, n: int) -> list[str]:
    handles = [await served.orch.submit(TaskSpec("echo", i, requires={"echo"})) for i in range(n)]
    return [h.id for h in handles]


async def test_events_stream_live_filtered_by_type(served: Served) -> None:
    params = {"type": ["task.succeeded"]}
    async with served.client.stream("GET", "/v1/events", params=params) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        ids = await submit_echo(served, 3)
        seen = []
        async for event in frames(response):
            assert event["event"] == "task.succeeded"
            seen.append(event["data"]["task_id"])
            if len(seen) == 3:
                break
    assert seen == ids


async def test_a_subscriber_resumes_after_the_last_event_it_saw(served: Served) -> None:
    async with served.client.stream("GET", "/v1/events", params={"type": "task.*"}) as response:
        await submit_echo(served, 1)
        async for event in frames(response):
            last = int(event["id"])
            break
    later = await submit_echo(served, 2)
    for task_id in later:
        await served.orch.task(task_id).result(timeout=10)
    headers = {"last-event-id": str(last)}
    async with served.client.stream("GET", "/v1/events", headers=headers) as response:
        replayed = []
        async for event in frames(response):
            assert int(event["id"]) > last
            replayed.append(event)
            if event["event"] == "task.succeeded" and event["data"]["task_id"] == later[-1]:
                break
    assert {e["data"]["task_id"] for e in replayed if e["event"] == "task.succeeded"} >= set(later)
    seqs = [int(e["id"]) for e in replayed]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


async def test_a_slow_subscriber_is_dropped_and_dispatch_goes_on(served: Served) -> None:
    address = urlsplit(served.gateway.url)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((address.hostname, address.port))
    slow.sendall(b"GET /v1/events HTTP/1.1\r\nhost: %s\r\n\r\n" % address.netloc.encode())
    try:
        dropped = served.gateway.hub
        assert dropped is not None
        finished = 0
        for _ in range(200):  # until the unread socket backs up and the subscriber is dropped
            ids = await submit_echo(served, 200)
            for task_id in ids:
                outcome = await served.orch.task(task_id).result(timeout=10)
                assert outcome.state is TaskState.SUCCEEDED
            finished += len(ids)
            if dropped.dropped:
                break
        assert dropped.dropped == 1
        assert finished >= 200
        more = await submit_echo(served, 50)  # still dispatching after the drop
        for task_id in more:
            assert (await served.orch.task(task_id).result(timeout=10)).ok
        slow.setblocking(False)
        received = b""
        loop = asyncio.get_running_loop()
        while b"event: gateway.dropped" not in received:
            chunk = await asyncio.wait_for(loop.sock_recv(slow, 65536), 10)
            assert chunk, "the stream ended without saying why"
            received += chunk
        assert b"Last-Event-ID" in received
    finally:
        slow.close()


@pytest.mark.parametrize("last", ["\u00b2", "9" * 5000, "-1", "1e3", "$(id)"])
async def test_a_last_event_id_that_is_no_seq_starts_a_fresh_stream(
    served: Served, last: str
) -> None:
    """A superscript two passes ``str.isdigit`` but not ``int``; 5,000 digits pass both checks
    but not ``int``'s digit limit. Both used to be a 422: each is now ignored, as is any id
    this server did not send."""
    headers = {"last-event-id": last.encode("latin-1")}
    params = {"type": "task.succeeded"}
    async with served.client.stream(
        "GET", "/v1/events", params=params, headers=headers
    ) as response:
        assert response.status_code == 200
        ids = await submit_echo(served, 1)
        async for event in frames(response):
            assert event["data"]["task_id"] == ids[0]
            break


async def succeeded(response: httpx.Response, ids: list[str]) -> list[dict[str, Any]]:
    """The stream's events until every task in ``ids`` has succeeded."""
    seen: list[dict[str, Any]] = []
    left = set(ids)
    async for event in frames(response):
        seen.append(event)
        if event["event"] == "task.succeeded":
            left.discard(event["data"]["task_id"])
            if not left:
                return seen
    raise AssertionError("the stream ended early")


async def test_subscribers_in_step_and_filtered_ones_each_get_every_event_once(
    served: Served,
) -> None:
    """Subscribers in step share one chunk per write; a filtered one gets its own."""
    async with (
        served.client.stream("GET", "/v1/events") as first,
        served.client.stream("GET", "/v1/events") as second,
        served.client.stream("GET", "/v1/events", params={"type": "task.succeeded"}) as only,
    ):
        ids = await submit_echo(served, 10)  # 40 events and more, with sse_buffer 16
        everything = [await succeeded(r, ids) for r in (first, second)]
        filtered = await succeeded(only, ids)
    assert everything[0] == everything[1]
    seqs = [int(e["id"]) for e in everything[0]]
    assert seqs == sorted(set(seqs))
    assert [e["id"] for e in filtered] == [
        e["id"] for e in everything[0] if e["event"] == "task.succeeded"
    ]


async def test_a_replay_longer_than_the_buffer_is_not_falling_behind(served: Served) -> None:
    """``sse_buffer`` bounds how far behind the live events a subscriber is; the replay
    it asked for does not count."""
    async with served.client.stream("GET", "/v1/events") as response:
        start = await submit_echo(served, 1)
        first = (await succeeded(response, start))[0]
    ids = await submit_echo(served, 20)  # 80 events and more, sse_buffer is 16
    for task_id in ids:
        await served.orch.task(task_id).result(timeout=10)
    headers = {"last-event-id": first["id"]}
    async with served.client.stream("GET", "/v1/events", headers=headers) as response:
        replayed = await succeeded(response, ids)
    # every task's event came, none from the server itself (its frames have no id): the
    # stream was not ended (a gateway.dropped event with an id is another subscriber's)
    assert all("id" in e for e in replayed)
    assert int(replayed[0]["id"]) == int(first["id"]) + 1


async def test_a_resume_older_than_the_replay_ring_starts_with_a_gap() -> None:
    orch = Orchestrator.from_config(config(replay=5, sse_buffer=16))
    async with orch:
        await orch.register(AgentSpec("echoer", {"echo"}, options={"handler": echo}))
        for i in range(5):  # 20 events and more: the first ones leave the ring
            await (await orch.submit(TaskSpec("echo", i, requires={"echo"}))).result(10)
        url = gateway_of(orch).url
        async with (
            httpx.AsyncClient(base_url=url, timeout=30) as client,
            client.stream("GET", "/v1/events", headers={"last-event-id": "0"}) as response,
        ):
            events = frames(response)
            gap = await anext(events)
            assert gap["event"] == "gateway.gap"
            assert gap["data"]["after"] == 0
            replayed = [await anext(events) for _ in range(5)]
    assert [int(e["id"]) for e in replayed] == list(
        range(gap["data"]["oldest"], gap["data"]["oldest"] + 5)
    )
    server = gateway_of(orch).server
    assert server is not None
    await server.closed


def strict(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


async def test_event_data_is_strict_json(served: Served) -> None:
    """NaN and infinity are null, and what JSON has no type for is its str; the frames were
    ``NaN`` before, which a browser's JSON.parse refuses."""
    async with served.client.stream("GET", "/v1/events", params={"type": "test.*"}) as response:
        data = {"nan": math.nan, "inf": -math.inf, "set": {1}, "odd": object(), 2: "two"}
        served.orch.emit("test.odd", data=data)
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                sent = json.loads(line[6:], parse_constant=strict)
                break
    assert sent["data"]["nan"] is None
    assert sent["data"]["inf"] is None
    assert sent["data"]["set"] == [1]
    assert sent["data"]["odd"].startswith("<object object")
    assert sent["data"]["2"] == "two"


async def test_a_stop_with_subscribers_connected_ends_their_streams_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    orch = Orchestrator.from_config(config())
    ended: list[str] = []

    async def follow(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/v1/events") as response:
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    ended.append(line)

    async with orch, httpx.AsyncClient(base_url=gateway_of(orch).url, timeout=30) as client:
        followers = [asyncio.ensure_future(follow(client)) for _ in range(3)]
        await asyncio.sleep(0.2)  # the streams are open
        await orch.stop()
        # stop() returned after the server closed: every stream has ended by now
        await asyncio.wait_for(asyncio.gather(*followers, return_exceptions=True), 10)
    server = gateway_of(orch).server
    assert server is not None
    assert server.closed.done()
    assert ended.count("event: gateway.dropped") == 3
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]
