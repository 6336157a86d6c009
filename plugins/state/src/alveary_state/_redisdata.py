"""What a Redis store holds, read back: the schema check, the mirror loaded at open, task
records parsed (a corrupt one named with the command that removes it)."""

from __future__ import annotations

import json
import re
from typing import Any

import structlog
from alveary import StoreError, Task, structure

from ._redislayout import CHUNK

log = structlog.get_logger("alveary.state")

VERSION = 1
"""The layout this alveary writes; a server holding a newer one is refused."""

Mirror = tuple[dict[str, Task], dict[str, str], dict[tuple[str, str], Any]]


class Reader:
    """Reads the records under one prefix; ``where`` is the server, for messages."""

    def __init__(self, key: dict[str, str], prefix: str, where: str) -> None:
        self.key = key
        self.prefix = prefix
        self.where = where

    async def prepare(self, client: Any) -> None:
        """Mark an empty namespace with the version; refuse a newer or a foreign one."""
        found = await client.get(self.key["schema"])
        if found is None:
            others = [k for name, k in self.key.items() if name != "schema"]
            if await client.exists(*others):
                raise StoreError(
                    f"{self.where}: {self.prefix}:* holds data but no {self.key['schema']}; "
                    "not an alveary store (choose another prefix)"
                )
            await client.setnx(self.key["schema"], VERSION)
        elif not str(found).isdigit():
            raise StoreError(f"{self.where}: {self.key['schema']} is {found!r}, not a version")
        elif int(found) > VERSION:
            raise StoreError(
                f"{self.where}: written by a newer alveary (schema {found} under "
                f"{self.prefix!r}, this one reads up to {VERSION}); upgrade alveary-state"
            )

    async def load(self, client: Any) -> Mirror:
        """The unfinished tasks, the idempotency keys and the plugin values."""
        active: dict[str, Task] = {}
        values: dict[tuple[str, str], Any] = {}
        ids = sorted(await client.smembers(self.key["unfinished"]))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            for task_id, data in zip(
                chunk, await client.hmget(self.key["tasks"], chunk), strict=True
            ):
                found = self.parse(task_id, data, strict=True) if data is not None else None
                if found is not None:
                    active[task_id] = found
        keys = dict(await client.hgetall(self.key["keys"]))
        for name, value in (await client.hgetall(self.key["values"])).items():
            try:
                namespace, key = json.loads(name)
                values[(namespace, key)] = json.loads(value)
            except ValueError as exc:
                raise StoreError(
                    f"{self.where}: field {name!r} of {self.key['values']} is corrupt "
                    f"({line(exc)}); remove it with HDEL"
                ) from None
        return active, keys, values

    def parse(self, task_id: str, data: str, *, strict: bool = False) -> Task | None:
        """A task from its JSON; a corrupt one refuses the open (``strict``, an unfinished
        task must not vanish silently) or is skipped with a warning (a finished one)."""
        try:
            task: Task = structure(json.loads(data), Task)
            return task
        except Exception as exc:
            text = f"task {task_id} in {self.key['tasks']} is corrupt ({line(exc)})"
            if strict:
                raise StoreError(
                    f"{self.where}: {text}; remove it with HDEL {self.key['tasks']} {task_id}"
                ) from None
            log.warning("redis store: skipping a corrupt task", task=task_id, error=line(exc))
            return None


def line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
