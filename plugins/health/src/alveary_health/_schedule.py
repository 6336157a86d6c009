"""Adaptive pacing: intervals that grow with the fleet so the work per second stays capped.

Like Dask's heartbeat interval: with ``n`` agents and a cap of ``rate`` per second, each agent
is visited every ``max(base, n / rate)`` seconds, so visits per second never exceed ``rate``.
A ``Wheel`` visits agents in turn, a budget per tick, at O(budget) whatever the fleet size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


def paced_interval(base: float, agents: int, rate: float) -> float:
    """The interval that keeps ``agents`` visits per interval under ``rate`` per second."""
    return max(base, agents / rate)


class Wheel:
    """Agent ids in the order they were last visited; each tick visits the ones that are due,
    at most ``rate * elapsed`` of them (a token bucket holding one second's worth, and at
    least one visit)."""

    __slots__ = ("_entries", "_tokens", "rate")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._entries: deque[tuple[str, float]] = deque()
        self._tokens = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, agent_id: str, visited: float) -> None:
        """Put an agent in, as if last visited at ``visited``."""
        self._entries.append((agent_id, visited))

    def due(
        self, now: float, elapsed: float, interval: float, alive: Callable[[str], bool]
    ) -> list[str]:
        """The agents to visit now: last visited ``interval`` ago or more, within the budget.
        Agents for which ``alive`` is false are dropped on the way."""
        burst = max(self.rate, 1.0)
        self._tokens = min(burst, self._tokens + self.rate * max(elapsed, 0.0))
        picked: list[str] = []
        entries = self._entries
        while entries and self._tokens >= 1.0:
            agent_id, visited = entries[0]
            if not alive(agent_id):
                entries.popleft()
                continue
            if now - visited < interval:
                break
            entries.popleft()
            entries.append((agent_id, now))
            picked.append(agent_id)
            self._tokens -= 1.0
        return picked
