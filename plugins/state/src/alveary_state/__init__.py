"""alveary-state: durable stores for alveary. ``sqlite``, one file on one machine, is the
embedded default; ``redis`` (``alveary-state[redis]``) is a server several orchestrators can
share. Every submit that returned survives a crash, and a restart recovers the unfinished
tasks."""

from __future__ import annotations

from ._config import Config
from ._plugin import State
from ._redis import RedisStore
from ._sqlite import SQLiteStore
from ._writebehind import Batch, WriteBehind

__all__ = ["Batch", "Config", "RedisStore", "SQLiteStore", "State", "WriteBehind"]
