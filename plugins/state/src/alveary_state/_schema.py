"""The SQLite schema, its version, and the migrations from older versions."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from alveary import StoreError

VERSION = 1
"""The schema this alveary writes. A file with a newer one is refused, an older one migrated."""

CREATE = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    finished REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (finished) WHERE finished IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_unfinished ON tasks (id) WHERE finished IS NULL;
CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, task_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS keys_task ON keys (task_id);
CREATE TABLE IF NOT EXISTS plugin_values (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""

MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}
"""``MIGRATIONS[n]`` turns a version ``n`` file into version ``n + 1``, inside one
transaction. Empty while there is one version."""


def prepare(db: sqlite3.Connection, path: str) -> None:
    """Create the schema in a new file, migrate an older one, refuse a newer one."""
    found = _version(db)
    if found is None:
        with db:
            db.executescript(CREATE)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(VERSION),))
        return
    if found > VERSION:
        raise StoreError(
            f"{path}: written by a newer alveary (schema {found}, this one reads up to "
            f"{VERSION}); upgrade alveary-state"
        )
    for version in range(found, VERSION):
        with db:
            MIGRATIONS[version](db)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(version + 1),))


def _version(db: sqlite3.Connection) -> int | None:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return None
    if "meta" not in tables:
        raise StoreError("not an alveary store (it has tables, but no schema version)")
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is None or not str(row[0]).isdigit():
        raise StoreError("not an alveary store (its schema version is missing)")
    return int(row[0])
