"""The ``redis`` store: the records in a Redis server that several orchestrators can share.

Like the SQLite store, unfinished tasks, idempotency keys and plugin values are loaded into
memory at open so the kernel's synchronous reads never wait on the network, and saves go
through ``WriteBehind``: each batch is one MULTI/EXEC pipeline, so it lands whole or not at
all, and every write in it is idempotent, so a retry after a lost reply is harmless. Finished
tasks are read from the server when asked for. How durable a committed batch is against a
crash of the *server* is its ``appendfsync`` setting; against a crash of the orchestrator it
is safe as soon as ``commit`` returns.

Layout under ``prefix``: ``schema`` (the version), ``tasks`` (hash id -> JSON),
``unfinished`` (set of ids), ``finished`` (sorted set id -> finish time, for retention),
``keys`` (hash idempotency key -> id, set-if-absent), ``keyof`` (hash id -> key, for
retention) and ``values`` (hash ``[namespace, key]`` as JSON -> JSON value).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from alveary import StoreError, Task

from ._lease import Lease, holder_name
from ._mirror import Mirrored, Report
from ._redisdata import Reader, line, redact
from ._redislayout import CHUNK, compact, field, queue
from ._writebehind import Batch, Fenced

log = structlog.get_logger("alveary.state")


class RedisStore(Mirrored):
    """Durable once ``commit`` returned; see the module for the layout."""

    durable = True

    def __init__(
        self,
        url: str | None,
        *,
        prefix: str = "alveary",
        flush_interval: float = 0.05,
        retain_count: int = 100_000,
        retain_age: float = 86_400.0,
        compact_interval: float = 10.0,
        timeout: float = 5.0,
        lease: float = 0.0,
        report: Report | None = None,
    ) -> None:
        self.url = url
        self._ttl = lease
        self._lease: Lease | None = None
        self.where = redact(url or "redis")
        self.prefix = prefix
        self._retain_count = retain_count
        self._retain_age = retain_age
        self._compact_interval = compact_interval
        self._timeout = timeout
        self.key = {
            name: f"{prefix}:{name}"
            for name in ("schema", "tasks", "unfinished", "finished", "keys", "keyof", "values")
        }
        self._data = Reader(self.key, prefix, self.where)
        super().__init__(flush_interval, report)
        self._put_at: dict[tuple[str, str], int] = {}
        self._puts = self._written = 0
        self._client: Any = None
        self._reader: Any = None
        self._adding = asyncio.Lock()
        self._compacted = 0.0

    # -- open and close -----------------------------------------------------------------------

    async def lead(self, standing_by: Callable[[str], None], lost: Callable[[str], None]) -> None:
        """Hold the lease before the kernel opens the store (see ``_lease``); with
        ``lease = 0`` there is none to hold."""
        if self._ttl <= 0:
            return
        redis = await self._connect()
        self._lease = Lease(self._client, f"{self.prefix}:lease", self._ttl)
        try:
            await self._lease.acquire(standing_by)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            await self._release()
            raise StoreError(f"{self.where}: cannot connect: {line(exc)}") from None
        self._lease.keep(lost)

    async def open(self) -> None:
        redis = await self._connect()
        try:
            await self._client.ping()
            await self._data.prepare(self._client)
            self._active, self._keys, self._values = await self._data.load(self._client)
        except BaseException as exc:
            await self._release()
            if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError)):
                raise StoreError(f"{self.where}: cannot connect: {line(exc)}") from None
            if isinstance(exc, redis.RedisError):
                raise StoreError(f"{self.where}: {line(exc)}") from None
            raise
        self._start_writing()

    async def _connect(self) -> Any:
        """The clients (made once), and the ``redis`` module for its exceptions."""
        if not self.url:
            raise StoreError('[plugins.state] url is not set: store = "redis" needs one')
        try:
            import redis
            import redis.asyncio
        except ImportError:
            raise StoreError(
                "the redis store needs the redis package: install alveary-state[redis]"
            ) from None
        if self._client is None:
            options: dict[str, Any] = {
                "socket_timeout": self._timeout,
                "socket_connect_timeout": self._timeout,
            }
            try:
                self._client = redis.asyncio.Redis.from_url(
                    self.url, decode_responses=True, **options
                )
                self._reader = redis.Redis.from_url(self.url, decode_responses=True, **options)
            except ValueError as exc:
                raise StoreError(f"{self.where}: not a Redis URL: {line(exc)}") from None
        return redis

    async def _release(self) -> None:
        if self._lease is not None:
            await self._lease.release()
            self._lease = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # -- the Store protocol (the rest is Mirrored's) ---------------------------------------------

    def _stored(self, task_id: str | None) -> Iterable[tuple[str, str]]:
        if task_id is None:
            found: list[tuple[str, str]] = self._read(
                lambda r: list(r.hscan_iter(self.key["tasks"], count=CHUNK))
            )
            return found
        data = self._read(lambda r: r.hget(self.key["tasks"], task_id))
        return [] if data is None else [(task_id, data)]

    def _parse(self, task_id: str, data: str) -> Task | None:
        return self._data.parse(task_id, data)

    def put_value(self, namespace: str, key: str, value: Any) -> None:
        super().put_value(namespace, key, value)
        self._puts += 1
        self._put_at[(namespace, key)] = self._puts

    async def add_value(self, namespace: str, key: str, delta: float) -> float:
        """One HINCRBYFLOAT, atomic against other processes. A put of the same value still
        buffered is written first, so the increment applies to it and is not overwritten."""
        async with self._adding:  # keeps the mirror at the last answer of the server
            if self._put_at.get((namespace, key), 0) > self._written:
                await self.commit()
            try:
                value = float(
                    await self._client.hincrbyfloat(
                        self.key["values"], field(namespace, key), delta
                    )
                )
            except Exception as exc:
                raise StoreError(
                    f"{self.where}: cannot add to {namespace}/{key}: {line(exc)}"
                ) from None
            self._values[(namespace, key)] = value
            return value

    # -- the writer ---------------------------------------------------------------------------

    async def _write(self, batch: Batch) -> None:
        """One batch in one MULTI/EXEC; then compaction, when it is due."""
        upto = self._puts  # every put so far is in this batch: WriteBehind took it just now
        if self._lease is None:
            pipe = self._client.pipeline(transaction=True)
            owners = queue(pipe, self.key, batch)
            results = await pipe.execute()
        else:
            owners, results = await self._fenced(batch)
        self._written = max(self._written, upto)
        for k in [k for k in batch.values if self._put_at.get(k, upto + 1) <= upto]:
            del self._put_at[k]
        if owners is not None:
            for (key, task_id), owner in zip(batch.keys.items(), results[owners], strict=True):
                if owner is not None and owner != task_id:  # another orchestrator was first
                    log.warning("idempotency key bound elsewhere first", key=key, owner=owner)
                    self._keys[key] = owner
        now = time.time()
        if now - self._compacted >= self._compact_interval:
            try:
                done, dropped = await compact(
                    self._client, self.key, before=now - self._retain_age, keep=self._retain_count
                )
            except Exception as exc:  # the next write reports an outage; compaction waits
                log.warning("redis store: compaction failed", error=line(exc))
                return
            for key, task_id in dropped:
                if self._keys.get(key) == task_id:
                    del self._keys[key]
            if done:
                self._compacted = now

    async def _fenced(self, batch: Batch) -> tuple[int | None, list[Any]]:
        """Write ``batch`` only while the lease is this process's; raise ``Fenced`` if it is
        not (the batch is dropped: the new leader redoes what this one was doing)."""
        lease = self._lease
        assert lease is not None
        if lease.lost is not None:
            raise Fenced(f"{self.where}: this orchestrator no longer leads ({lease.lost})")
        async with lease.lock, self._client.pipeline(transaction=True) as pipe:
            await pipe.watch(lease.key)
            holder = await pipe.get(lease.key)
            if holder != lease.token:
                reason = f"the store's lease passed to {holder_name(holder)}"
                lease.give_up(reason)
                raise Fenced(f"{self.where}: {reason}")
            pipe.multi()
            owners = queue(pipe, self.key, batch)
            return owners, await pipe.execute()  # WatchError if the lease changed meanwhile

    # -- helpers ------------------------------------------------------------------------------

    def _read(self, call: Callable[[Any], Any]) -> Any:
        """A blocking read of finished tasks (the protocol's reads are synchronous); refused at
        once while writes are failing rather than waiting out the timeout on every call."""
        buffer = self._opened()
        if buffer.failing is not None:
            raise StoreError(f"{self.where}: unreachable ({buffer.failing})")
        try:
            return call(self._reader)
        except Exception as exc:
            raise StoreError(f"{self.where}: cannot read: {line(exc)}") from None

    def _say(self, type: str, data: dict[str, Any]) -> None:
        self.report(type, {"store": "redis", "url": self.where, **data})
