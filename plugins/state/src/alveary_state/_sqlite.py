"""The ``sqlite`` store: one file, WAL, a writer thread with group commit.

Unfinished tasks, idempotency keys and plugin values are held in memory (loaded at open) so
the kernel's synchronous reads never wait on the disk; finished tasks are read from the file.
Writes go through ``WriteBehind`` to one thread that owns the writing connection. A lock file
beside the database keeps a second orchestrator off it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from alveary import StoreError, Task, structure

from ._lock import FileLock
from ._mirror import Mirrored, Report
from ._schema import prepare
from ._writebehind import Batch, finished_at

UPSERT_TASKS = """
INSERT INTO tasks (id, state, finished, data)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
       json_extract(value, '$[3]')
FROM json_each(?) WHERE true
ON CONFLICT (id) DO UPDATE SET
    state = excluded.state, finished = excluded.finished, data = excluded.data
"""


class SQLiteStore(Mirrored):
    """Durable: a submit that returned is in the file, and so is every transition written
    before a crash (they are written every ``flush_interval`` seconds)."""

    durable = True

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "full",
        flush_interval: float = 0.05,
        retain_count: int = 100_000,
        retain_age: float = 86_400.0,
        compact_interval: float = 10.0,
        report: Report | None = None,
    ) -> None:
        self.path = self.where = path
        self._synchronous = synchronous
        self._retain_count = retain_count
        self._retain_age = retain_age
        self._compact_interval = compact_interval
        super().__init__(flush_interval, report)
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._lock: FileLock | None = None
        self._compacted = 0.0

    # -- open and close -----------------------------------------------------------------------

    async def open(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="alveary-sqlite")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._thread, self._open_writer)
            self._reader = self._connect(readonly=True)
            self._load()
        except BaseException:
            await self._release()
            raise
        self._start_writing()

    def _connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                f"file:{self.path}?mode={'ro' if readonly else 'rwc'}",
                uri=True,
                isolation_level=None if readonly else "DEFERRED",
                check_same_thread=False,
            )
            db.execute("PRAGMA busy_timeout = 5000")
            return db
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open: {exc}") from None

    def _open_writer(self) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise StoreError(f"{self.path}: the directory {folder} does not exist")
        self._lock = FileLock(self.path + ".lock")
        self._lock.acquire()  # raises StoreError naming the holder
        db = self._connect()
        try:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"{self.path}: cannot use a write-ahead log (got {mode!r})")
            db.execute(f"PRAGMA synchronous = {self._synchronous}")
            prepare(db, self.path)
            db.execute("BEGIN IMMEDIATE")  # refuses at once on a read-only file
            db.execute("ROLLBACK")
        except StoreError as exc:
            db.close()
            text = str(exc)
            raise StoreError(
                text if text.startswith(self.path) else f"{self.path}: {text}"
            ) from None
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"{self.path}: {_explain(exc)}") from None
        self._writer = db

    def _load(self) -> None:
        assert self._reader is not None
        try:
            rows = self._reader.execute("SELECT data FROM tasks WHERE finished IS NULL")
            for (data,) in rows:
                task = structure(json.loads(data), Task)
                self._active[task.id] = task
            self._keys = dict(self._reader.execute("SELECT key, task_id FROM keys"))
            for namespace, key, value in self._reader.execute("SELECT * FROM plugin_values"):
                self._values[(namespace, key)] = json.loads(value)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {_explain(exc)}") from None

    async def _release(self) -> None:
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, self._close_writer)
            self._thread.shutdown()
            self._thread = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- the Store protocol (the rest is Mirrored's) ---------------------------------------------

    def _stored(self, task_id: str | None) -> Iterable[tuple[str, str]]:
        if task_id is None:
            return self._read("SELECT id, data FROM tasks WHERE finished IS NOT NULL")
        return self._read("SELECT id, data FROM tasks WHERE id = ?", (task_id,))

    def _parse(self, task_id: str, data: str) -> Task | None:
        task: Task = structure(json.loads(data), Task)
        return task

    async def add_value(self, namespace: str, key: str, delta: float) -> float:
        # One orchestrator holds the file (the lock), so the loop thread makes this atomic.
        value = float(self._values.get((namespace, key)) or 0) + delta
        self.put_value(namespace, key, value)
        return value

    # -- the writer thread --------------------------------------------------------------------

    async def _write(self, batch: Batch) -> None:
        assert self._thread is not None
        dropped = await asyncio.get_running_loop().run_in_executor(
            self._thread, self._write_batch, batch
        )
        for key, task_id in dropped:
            if self._keys.get(key) == task_id:
                del self._keys[key]

    def _write_batch(self, batch: Batch) -> list[tuple[str, str]]:
        """Write one batch in one transaction; compact now and then. Returns the keys of the
        tasks compaction removed."""
        db = self._writer
        assert db is not None
        # The tasks go in as one JSON array through json_each: one statement, so the thread
        # gives up the GIL once for all of them instead of once per row.
        rows = json.dumps([[i, d["state"], finished_at(d), d] for i, d in batch.tasks.items()])
        values = [(ns, k, json.dumps(v)) for (ns, k), v in batch.values.items() if v is not None]
        gone = [(ns, k) for (ns, k), v in batch.values.items() if v is None]
        with db:
            db.execute(UPSERT_TASKS, (rows,))
            if batch.keys:
                db.executemany("INSERT OR IGNORE INTO keys VALUES (?, ?)", batch.keys.items())
            if values:
                db.executemany("INSERT OR REPLACE INTO plugin_values VALUES (?, ?, ?)", values)
            if gone:
                db.executemany("DELETE FROM plugin_values WHERE namespace = ? AND key = ?", gone)
        now = time.time()
        if now - self._compacted < self._compact_interval:
            return []
        self._compacted = now
        return self._compact(db, now)

    def _compact(self, db: sqlite3.Connection, now: float, chunk: int = 2000) -> list[Any]:
        """Remove finished tasks older than ``retain_age`` or beyond the newest
        ``retain_count``, a chunk per transaction so writes are never held up for long."""
        dropped: list[Any] = []
        while True:
            (count,) = db.execute(
                "SELECT count(*) FROM tasks WHERE finished IS NOT NULL"
            ).fetchone()
            over = max(0, count - self._retain_count)
            ids = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM tasks WHERE finished IS NOT NULL AND "
                    "(finished < ? OR id IN (SELECT id FROM tasks WHERE finished IS NOT NULL "
                    "ORDER BY finished LIMIT ?)) LIMIT ?",
                    (now - self._retain_age, over, chunk),
                )
            ]
            if not ids:
                return dropped
            marks = ",".join("?" * len(ids))
            with db:
                dropped += db.execute(
                    f"SELECT key, task_id FROM keys WHERE task_id IN ({marks})", ids
                ).fetchall()
                db.execute(f"DELETE FROM keys WHERE task_id IN ({marks})", ids)
                db.execute(f"DELETE FROM tasks WHERE id IN ({marks})", ids)

    # -- helpers ------------------------------------------------------------------------------

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        if self._reader is None:
            raise StoreError(f"{self.path}: the store is not open")
        return self._reader.execute(sql, args)

    def _say(self, type: str, data: dict[str, Any]) -> None:
        self.report(type, {"store": "sqlite", "path": self.path, **data})


def _explain(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "file is not a database" in text:
        return "not an SQLite database (is it the right file?)"
    if "readonly" in text or "read-only" in text:
        return "the file is read-only"
    return text
