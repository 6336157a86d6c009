"""The redis store when things go wrong: no server, a server that dies and comes back, data
it cannot read, data from a newer alveary, a config without the server."""

from __future__ import annotations

import asyncio

import alveary
import pytest
import redis
from alveary import AgentSpec, StoreError, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator, until
from alveary_state import Config, RedisStore, State
from structlog.testing import capture_logs

from .conftest import RedisServer, free_port, redis_server_or_skip


async def test_no_server_at_start_is_one_line_naming_the_url() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    store = RedisStore(url, timeout=2.0)
    with pytest.raises(StoreError) as info:
        await store.open()
    text = str(info.value)
    assert text.startswith(f"{url}: cannot connect: "), text
    assert "\n" not in text


async def test_no_server_to_lead_is_one_line_and_no_lease_to_free() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    store = RedisStore(url, timeout=2.0, lease=10.0)
    with capture_logs() as logs, pytest.raises(StoreError) as info:
        await store.lead(lambda holder: None, lambda reason: None)
    assert str(info.value).startswith(f"{url}: cannot connect: ")
    assert logs == []  # not "could not free the store's lease": it was never taken


async def test_a_password_in_the_url_is_not_shown() -> None:
    store = RedisStore(f"redis://user:secret@127.0.0.1:{free_port()}/0", timeout=2.0)
    with pytest.raises(StoreError) as info:
        await store.open()
    assert "secret" not in str(info.value)
    assert "user:***@" in str(info.value)


def test_store_redis_without_a_url_is_one_config_line() -> None:
    data = {"orchestrator": {"store": "redis"}, "plugins": {"enabled": ["state"]}}
    with pytest.raises(alveary.ConfigError) as info:
        alveary.Orchestrator.from_config(data)
    [line] = info.value.lines
    assert line.startswith("<config>: plugins.state.url: "), line
    assert "redis://" in line


async def test_a_newer_schema_is_refused(redis_server: RedisServer, prefix: str) -> None:
    redis.Redis.from_url(redis_server.url).set(f"{prefix}:schema", 99)
    with pytest.raises(StoreError) as info:
        await RedisStore(redis_server.url, prefix=prefix).open()
    assert str(info.value) == (
        f"{redis_server.url}: written by a newer alveary (schema 99 under {prefix!r}, "
        "this one reads up to 1); upgrade alveary-state"
    )


async def test_foreign_data_under_the_prefix_is_refused(
    redis_server: RedisServer, prefix: str
) -> None:
    redis.Redis.from_url(redis_server.url).hset(f"{prefix}:tasks", "x", "y")
    with pytest.raises(StoreError, match="not an alveary store"):
        await RedisStore(redis_server.url, prefix=prefix).open()


async def test_a_corrupt_unfinished_task_refuses_the_open_naming_it(
    redis_server: RedisServer, prefix: str
) -> None:
    store = RedisStore(redis_server.url, prefix=prefix)
    await store.open()
    await store.close()
    client = redis.Redis.from_url(redis_server.url)
    client.hset(f"{prefix}:tasks", "t-bad", "{not json")
    client.sadd(f"{prefix}:unfinished", "t-bad")
    with pytest.raises(StoreError) as info:
        await RedisStore(redis_server.url, prefix=prefix).open()
    text = str(info.value)
    assert "task t-bad" in text
    assert f"HDEL {prefix}:tasks t-bad" in text
    assert "\n" not in text


async def test_a_corrupt_finished_task_is_skipped(redis_server: RedisServer, prefix: str) -> None:
    async with orchestrator(
        {"orchestrator": {"store": "redis"}, "plugins": {"disabled": ["memory"]}},
        State(Config(url=redis_server.url, prefix=prefix, flush_interval=0.01)),
    ) as orch:
        await orch.register(AgentSpec("a", {"w"}, options={"handler": alveary.testing.echo}))
        good = await orch.submit(TaskSpec("w", 1, requires={"w"}))
        assert (await good.result(timeout=10)).ok
        await orch.store.commit()
        redis.Redis.from_url(redis_server.url).hset(f"{prefix}:tasks", "t-bad", "[1, 2")
        assert orch.store.get_task("t-bad") is None
        assert [t.id for t in orch.store.tasks()] == [good.id]


async def test_a_server_that_dies_and_comes_back_loses_nothing_committed(
    tmp_path_factory: pytest.TempPathFactory, prefix: str
) -> None:
    """The server is killed (SIGKILL) while tasks run: they keep running, writes fail and
    are reported, and once it is back everything lands; submits made meanwhile wait."""
    folder = tmp_path_factory.mktemp("aof")
    server = RedisServer(folder, free_port(), "--appendonly", "yes", "--appendfsync", "always")
    redis_server_or_skip()
    server.start()
    recorder = EventRecorder()
    gate = asyncio.Event()

    async def work(task: alveary.Task) -> object:
        await gate.wait()
        return task.payload

    config = {"orchestrator": {"store": "redis"}, "plugins": {"disabled": ["memory"]}}
    plugin = State(Config(url=server.url, prefix=prefix, flush_interval=0.01))
    try:
        async with orchestrator(config, plugin, recorder) as orch:
            await orch.register(AgentSpec("a", {"w"}, capacity=8, options={"handler": work}))
            before = [await orch.submit(TaskSpec("w", i, requires={"w"})) for i in range(8)]
            server.stop()
            gate.set()  # the tasks finish while the server is gone
            await recorder.wait_for("store.failing", timeout=10)
            for handle in before:
                assert (await handle.result(timeout=10)).ok
            late = asyncio.ensure_future(orch.submit(TaskSpec("w", "late", requires={"w"})))
            failed = len(recorder.of("store.failing"))
            await until(lambda: len(recorder.of("store.failing")) >= failed + 2, timeout=15)
            assert not late.done(), "a submit returned while nothing could be written"
            server.start()
            await recorder.wait_for("store.recovered", timeout=15)
            handle = await asyncio.wait_for(late, 15)
            assert (await handle.result(timeout=10)).ok
            await orch.store.commit()
        again = RedisStore(server.url, prefix=prefix)
        await again.open()
        try:
            for h in [*before, handle]:
                found = again.get_task(h.id)
                assert found is not None
                assert found.state is TaskState.SUCCEEDED, found
            assert list(again.unfinished()) == []
        finally:
            await again.close()
        failing = recorder.of("store.failing")[0].data
        assert failing["store"] == "redis"
        assert failing["url"] == server.url
    finally:
        server.stop()
