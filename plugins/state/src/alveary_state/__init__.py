"""alveary-state: durable stores for alveary. ``sqlite``, one file on one machine, is the
embedded default; every submit that returned survives a crash, and a restart recovers the
unfinished tasks."""

from __future__ import annotations

from ._config import Config
from ._plugin import State
from ._sqlite import SQLiteStore
from ._writebehind import Batch, WriteBehind

__all__ = ["Batch", "Config", "SQLiteStore", "State", "WriteBehind"]
