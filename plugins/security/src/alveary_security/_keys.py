"""API keys, stored only as hashes in a JSON file that ``alveary keys`` writes atomically.

A key is ``alv_<id>_<secret>``: ``id`` (8 random bytes, hex) finds its record in O(1) and
``secret`` is 32 random bytes. The file keeps the SHA-256 of the whole key. A slow hash
(scrypt, argon2) protects passwords a person chose; a 256-bit random secret cannot be guessed
from its SHA-256, and a slow hash on every request would make each authentication cost
milliseconds and hand attackers a cheap way to burn CPU.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs

PREFIX = "alv_"


@attrs.frozen
class Key:
    """One stored key: never the key itself."""

    name: str
    id: str
    role: str
    hash: str
    created: float


class KeyStore:
    """The keys of one file, read when it changes; a file that cannot be read leaves the
    store broken, and a broken store refuses every key until the file reads again."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.broken = ""
        self._by_id: dict[str, Key] = {}
        self._stamp: tuple[int, int] | None = None

    def listed(self) -> list[Key]:
        """The keys, by name."""
        return sorted(self._by_id.values(), key=lambda k: k.name)

    def refresh(self) -> None:
        """Re-read the file if it changed since the last read (a missing file has no keys)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._by_id, self._stamp, self.broken = {}, None, ""
            return
        except OSError as exc:
            self.broken = f"keys file unreadable ({exc.strerror})"
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp and not self.broken:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            keys = [Key(**entry) for entry in data["keys"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.broken = f"keys file unreadable ({type(exc).__name__})"
            return
        self._by_id = {k.id: k for k in keys}
        self._stamp, self.broken = stamp, ""

    @property
    def stored(self) -> dict[str, Key]:
        """The records read last, by id: a new object each time the file is read again."""
        return self._by_id

    def verify(self, presented: str, stored: dict[str, Key] | None = None) -> Key | None:
        """The key record ``presented`` matches (among ``stored``, by default the records
        read last), or ``None``."""
        if not presented.startswith(PREFIX):
            return None
        records = self._by_id if stored is None else stored
        key = records.get(presented[len(PREFIX) :].partition("_")[0])
        if key is None:
            return None
        return key if hmac.compare_digest(key.hash, _digest(presented)) else None

    def create(self, name: str, role: str) -> str:
        """Add a key named ``name`` and return it: the only time it is shown."""
        self.refresh()
        if self.broken:
            raise OSError(self.broken)
        if any(k.name == name for k in self._by_id.values()):
            raise ValueError(f"a key named {name!r} exists; revoke it first")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        presented = f"{PREFIX}{key_id}_{secret}"
        key = Key(name, key_id, role, _digest(presented), round(time.time(), 3))
        self._write([*self._by_id.values(), key])
        return presented

    def revoke(self, name: str) -> bool:
        """Remove the key named ``name``; False if there is none."""
        self.refresh()
        if self.broken:
            raise OSError(self.broken)
        kept = [k for k in self._by_id.values() if k.name != name]
        if len(kept) == len(self._by_id):
            return False
        self._write(kept)
        return True

    def _write(self, keys: list[Key]) -> None:
        """Replace the file atomically (temporary file, fsync, rename), readable by its owner
        only."""
        data: dict[str, Any] = {"keys": [attrs.asdict(k) for k in keys]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._stamp = None
        self.refresh()


def _digest(presented: str) -> str:
    return hashlib.sha256(presented.encode()).hexdigest()
