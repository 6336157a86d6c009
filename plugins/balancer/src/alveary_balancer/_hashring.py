"""Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, SODA 2018).

A key belongs to the first member clockwise from its hash on a ring of virtual points; a
member takes it only while its load stays within ``(1 + epsilon)`` times the average load,
otherwise the key walks on to the next member. No member ever exceeds the bound, and when a
member leaves, only its own keys and a few that cascade move. Hashes are stable across
processes (BLAKE2b, not Python's salted ``hash``), so a key keeps its member after a restart.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable, Iterable, Iterator

_MASK = (1 << 64) - 1


def hash64(text: str) -> int:
    """A stable 64-bit hash of ``text``."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _mix(x: int) -> int:
    """splitmix64's finaliser: spreads consecutive seeds over the ring."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class BoundedLoadRing:
    """A hash ring of named members with ``vnodes`` points each.

    ``place`` is the bounded-load lookup; ``walk`` yields members in ring order from a key
    for callers with their own acceptance rules; ``cap`` is the bound itself. Membership
    changes are applied lazily at the next lookup: one at a time by insertion (O(points)
    memory moves each) or, after many, by one sort.
    """

    def __init__(self, *, epsilon: float = 0.25, vnodes: int = 64) -> None:
        if epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
        if vnodes <= 0:
            raise ValueError(f"vnodes must be > 0, got {vnodes!r}")
        self.epsilon = epsilon
        self.vnodes = vnodes
        self._points: list[int] = []
        self._owners: list[str] = []
        self._members: set[str] = set()
        self._added: set[str] = set()
        self._removed: set[str] = set()

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, member: str) -> bool:
        return member in self._members

    @property
    def members(self) -> frozenset[str]:
        return frozenset(self._members)

    def add(self, member: str) -> None:
        if member in self._members:
            return
        self._members.add(member)
        if member in self._removed:
            self._removed.discard(member)
        else:
            self._added.add(member)

    def remove(self, member: str) -> None:
        if member not in self._members:
            return
        self._members.discard(member)
        if member in self._added:
            self._added.discard(member)
        else:
            self._removed.add(member)

    def update(self, members: Iterable[str]) -> None:
        for member in members:
            self.add(member)

    def _points_of(self, member: str) -> Iterator[int]:
        seed = hash64(member)
        for i in range(self.vnodes):
            yield _mix(seed + i)

    def _settle(self) -> None:
        """Apply pending membership changes to the sorted points."""
        if not (self._added or self._removed):
            return
        changed = (len(self._added) + len(self._removed)) * self.vnodes
        if changed * 8 > len(self._points):
            pairs = sorted((p, m) for m in self._members for p in self._points_of(m))
            self._points = [p for p, _ in pairs]
            self._owners = [m for _, m in pairs]
        else:
            points, owners = self._points, self._owners
            for member in self._removed:
                for point in self._points_of(member):
                    i = bisect.bisect_left(points, point)
                    while i < len(points) and points[i] == point and owners[i] != member:
                        i += 1
                    if i < len(points) and points[i] == point:
                        del points[i]
                        del owners[i]
            for member in self._added:
                for point in self._points_of(member):
                    i = bisect.bisect_right(points, point)
                    points.insert(i, point)
                    owners.insert(i, member)
        self._added.clear()
        self._removed.clear()

    def walk(self, key: str) -> Iterator[str]:
        """Every member once, in ring order from ``key``'s hash: its owner first."""
        self._settle()
        points, owners = self._points, self._owners
        n = len(points)
        if not n:
            return
        start = bisect.bisect_right(points, hash64(key))
        seen: set[str] = set()
        total = len(self._members)
        for step in range(n):
            member = owners[(start + step) % n]
            if member not in seen:
                seen.add(member)
                yield member
                if len(seen) == total:
                    return

    def owner(self, key: str) -> str | None:
        """The member the key hashes to, ignoring loads."""
        return next(self.walk(key), None)

    def cap(self, total: float, weight: float = 1.0, total_weight: float | None = None) -> int:
        """The most a member of ``weight`` (out of ``total_weight``, default one per member)
        may hold once one more unit joins ``total`` units: ``ceil((1 + epsilon) * (total + 1)
        * weight / total_weight)``."""
        whole = float(len(self._members)) if total_weight is None else total_weight
        if whole <= 0:
            return 0
        return math.ceil((1 + self.epsilon) * (total + 1) * weight / whole - 1e-9)

    def place(
        self,
        key: str,
        load: Callable[[str], float],
        total: float,
        *,
        weight: Callable[[str], float] | None = None,
        total_weight: float | None = None,
        accept: Callable[[str], bool] | None = None,
        limit: int | None = None,
    ) -> str | None:
        """The first member from ``key`` that ``accept``s and stays within its bound with one
        more unit: ``load(member) + 1 <= cap(total, weight(member), total_weight)``. Looks at
        ``limit`` members at most; None if none qualifies."""
        for step, member in enumerate(self.walk(key)):
            if limit is not None and step >= limit:
                return None
            if accept is not None and not accept(member):
                continue
            w = 1.0 if weight is None else weight(member)
            if load(member) + 1 <= self.cap(total, w, total_weight):
                return member
        return None
