"""What the ``redis`` store sends: a batch as one MULTI/EXEC, and compaction in chunks."""

from __future__ import annotations

import json
from typing import Any

from ._writebehind import Batch, finished_at

CHUNK = 1000
"""Ids per command when loading and per transaction when compacting."""


def field(namespace: str, key: str) -> str:
    """The field of a plugin value in the ``values`` hash."""
    return json.dumps([namespace, key])


def queue(pipe: Any, key: dict[str, str], batch: Batch) -> int | None:
    """Queue ``batch`` on a transaction pipeline; return the index of the reply giving the
    owners of its idempotency keys (HSETNX: the first orchestrator to bind one keeps it)."""
    if batch.tasks:
        done = {i: finished_at(data) for i, data in batch.tasks.items()}
        live = [i for i, at in done.items() if at is None]
        ended = {i: at for i, at in done.items() if at is not None}
        pipe.hset(key["tasks"], mapping={i: json.dumps(d) for i, d in batch.tasks.items()})
        if live:
            pipe.sadd(key["unfinished"], *live).zrem(key["finished"], *live)
        if ended:
            pipe.srem(key["unfinished"], *ended).zadd(key["finished"], ended)
    owners = None
    if batch.keys:
        for name, task_id in batch.keys.items():
            pipe.hsetnx(key["keys"], name, task_id)
        pipe.hset(key["keyof"], mapping={i: k for k, i in batch.keys.items()})
        owners = len(pipe)
        pipe.hmget(key["keys"], list(batch.keys))
    puts = {field(*k): json.dumps(v) for k, v in batch.values.items() if v is not None}
    gone = [field(*k) for k, v in batch.values.items() if v is None]
    if puts:
        pipe.hset(key["values"], mapping=puts)
    if gone:
        pipe.hdel(key["values"], *gone)
    return owners


async def compact(
    client: Any, key: dict[str, str], *, before: float, keep: int, rounds: int = 10
) -> tuple[bool, list[tuple[str, str]]]:
    """Drop finished tasks that finished ``before`` or beyond the newest ``keep``, a chunk per
    transaction so writes wait little. Returns whether all is done (else call again) and the
    (key, task id) bindings dropped with them."""
    dropped: list[tuple[str, str]] = []
    for _ in range(rounds):
        ids = await client.zrangebyscore(key["finished"], "-inf", before, start=0, num=CHUNK)
        over = await client.zcard(key["finished"]) - keep
        if over > 0:
            oldest = await client.zrange(key["finished"], 0, min(over, CHUNK) - 1)
            ids = list(dict.fromkeys([*ids, *oldest]))
        if not ids:
            return True, dropped
        names = await client.hmget(key["keyof"], ids)
        bound = {k: i for i, k in zip(ids, names, strict=True) if k}
        owners = await client.hmget(key["keys"], list(bound)) if bound else []
        mine = [k for k, owner in zip(bound, owners, strict=True) if owner == bound[k]]
        pipe = client.pipeline(transaction=True)
        pipe.hdel(key["tasks"], *ids).zrem(key["finished"], *ids).hdel(key["keyof"], *ids)
        if mine:
            pipe.hdel(key["keys"], *mine)
        await pipe.execute()
        dropped += [(k, bound[k]) for k in mine]
    return False, dropped
