"""Webhooks: events POSTed as JSON, signed with HMAC-SHA256, in order, from a bounded queue
per webhook, retried with exponential backoff, and written to a dead-letter file when the
receiver stays down. Nothing here runs on the event's path but ``offer``: a count or an
append."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import structlog

from ._config import Webhook
from ._counters import Counters
from ._document import Document, encode
from ._sampling import sampler

log = structlog.get_logger("alveary.plugins.hooks")

SIGNATURE = "X-Alveary-Signature"
_PERMANENT = frozenset(range(400, 500)) - {408, 425, 429}
"""Answers that sending the same request again would not change."""


def sign(key: bytes, body: bytes) -> str:
    """The ``X-Alveary-Signature`` header's value for ``body``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class Sender:
    """One webhook's queue and the task that delivers it."""

    def __init__(
        self,
        config: Webhook,
        version: str,
        report: Callable[[str, list[Document], str], None],
    ) -> None:
        self.config = config
        self._report = report
        self.name = config.name
        self.counters = Counters()
        self._key: bytes | None = None
        self._user_agent = f"alveary-hooks/{version}"
        self._queue: collections.deque[Document] = collections.deque()
        self._sample = sampler(config, lambda: len(self._queue) + len(self._inflight))
        self._wake = asyncio.Event()
        self._inflight: list[Document] = []
        self._task: asyncio.Future[None] | None = None
        self._closing = False

    def offer(self, document: Document) -> None:
        """Queue ``document``, unless sampling leaves it out or the queue is full."""
        counters = self.counters
        if self._sample is not None and not self._sample():
            counters.sampled_out += 1
        elif self._closing or len(self._queue) >= self.config.queue:
            counters.dropped += 1
        else:
            self._queue.append(document)
            if not self._wake.is_set():
                self._wake.set()

    def start(self, client: httpx.AsyncClient, key: bytes | None) -> None:
        """Start delivering, signing with ``key`` when there is one."""
        self._key = key
        self._task = asyncio.ensure_future(self._run(client))

    async def close(self) -> None:
        """Stop: what is queued or in flight goes to the dead-letter file (the delivery id
        lets a receiver that got the request in flight drop it when it comes again)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        left = [*self._inflight, *self._queue]
        self._inflight, self._queue = [], collections.deque()
        if left:
            await self._give_up(left, "not delivered before the orchestrator stopped")

    async def _run(self, client: httpx.AsyncClient) -> None:
        queue, size = self._queue, self.config.batch
        while True:
            while not queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
            if size > 1 and len(queue) < size and not self._closing:
                await self._fill(size)
            self._inflight = batch = [queue.popleft() for _ in range(min(size, len(queue)))]
            await self._deliver(client, batch)
            self._inflight = []

    async def _fill(self, size: int) -> None:
        """Wait up to ``flush`` seconds for a batch to fill up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.flush
        while len(self._queue) < size and not self._closing:
            left = deadline - loop.time()
            if left <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)

    async def _deliver(self, client: httpx.AsyncClient, batch: list[Document]) -> None:
        config = self.config
        body = encode(batch if config.batch > 1 else batch[0])
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            "X-Alveary-Event": batch[0]["type"] if config.batch == 1 else "batch",
            "X-Alveary-Delivery": uuid.uuid4().hex,  # the same on every retry: dedupe on it
        }
        if self._key is not None:
            headers[SIGNATURE] = sign(self._key, body)
        tries = 0
        while True:
            tries += 1
            error = await self._post(client, body, headers)
            if error is None:
                self.counters.delivered += len(batch)
                return
            if tries > config.retries or error.startswith("HTTP 4"):
                break
            self.counters.retries += 1
            delay = min(config.backoff_max, config.backoff * 2 ** (tries - 1))
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
        self._inflight = []  # given up on: not to be given up on again if stopped now
        error = f"{error} (after {tries} {'try' if tries == 1 else 'tries'})"
        await self._give_up(batch, error)  # written down before it is reported as failed
        self._report(self.name, batch, error)

    async def _post(
        self, client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
    ) -> str | None:
        try:
            response = await client.post(
                self.config.url, content=body, headers=headers, timeout=self.config.timeout
            )
        except httpx.TimeoutException:
            return f"no answer within {self.config.timeout:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        if response.status_code in _PERMANENT:
            return f"HTTP {response.status_code} (not retried)"
        return f"HTTP {response.status_code}"

    async def _give_up(self, batch: list[Document], error: str) -> None:
        self.counters.failed += len(batch)
        log.warning("webhook delivery failed", webhook=self.name, events=len(batch), error=error)
        path = self.config.dead_letter
        if path is None:
            return
        record: dict[str, Any] = {"webhook": self.name, "error": error, "failed_at": time.time()}
        lines = [json.dumps({**record, "event": doc}, default=repr) + "\n" for doc in batch]
        try:
            await asyncio.to_thread(_append, path, "".join(lines))
        except OSError as exc:
            log.error("dead-letter file not written", webhook=self.name, path=path, error=str(exc))


def _append(where: str, text: str) -> None:
    path = Path(where).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(text)
