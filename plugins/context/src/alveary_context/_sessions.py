"""Which agent holds which session's context: a bounded table, least recently used first."""

from __future__ import annotations

from collections import OrderedDict

from alveary import Priority


class Sessions:
    """Session key -> the id of the agent holding its context, with the priority of the
    session's last task. O(1) for every operation but ``of`` (O(sessions of that agent))."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._holder: OrderedDict[str, tuple[str, Priority]] = OrderedDict()
        self._by_agent: dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._holder)

    def holder(self, key: str) -> str | None:
        found = self._holder.get(key)
        return None if found is None else found[0]

    def hold(self, key: str, agent_id: str, priority: Priority) -> None:
        """``agent_id`` holds (or keeps holding) the session; it becomes the most recent."""
        old = self._holder.pop(key, None)
        if old is not None and old[0] != agent_id:
            self._unlink(key, old[0])
        self._holder[key] = (agent_id, priority)
        keys = self._by_agent.get(agent_id)
        if keys is None:
            keys = self._by_agent[agent_id] = OrderedDict()
        keys[key] = None
        keys.move_to_end(key)
        while len(self._holder) > self.limit:
            gone, (owner, _) = self._holder.popitem(last=False)
            self._unlink(gone, owner)

    def _unlink(self, key: str, agent_id: str) -> None:
        keys = self._by_agent.get(agent_id)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._by_agent[agent_id]

    def of(self, agent_id: str) -> list[str]:
        """The sessions ``agent_id`` holds, least recently used first."""
        return list(self._by_agent.get(agent_id, ()))

    def movable(self, agent_id: str) -> list[str]:
        """Its sessions whose last task was of low or medium priority, least recent first."""
        return [k for k in self.of(agent_id) if self._holder[k][1] <= Priority.MEDIUM]

    def count(self, agent_id: str) -> int:
        return len(self._by_agent.get(agent_id, ()))

    def move(self, key: str, agent_id: str) -> None:
        """Give the session to another agent, keeping its recency."""
        found = self._holder.get(key)
        if found is None or found[0] == agent_id:
            return
        self._unlink(key, found[0])
        self._holder[key] = (agent_id, found[1])
        self._by_agent.setdefault(agent_id, OrderedDict())[key] = None

    def hand_over(self, old: str, new: str) -> int:
        """Every session of agent ``old`` goes to agent ``new``; returns how many."""
        keys = self.of(old)
        for key in keys:
            self.move(key, new)
        return len(keys)

    def drop(self, agent_id: str) -> None:
        """Forget the agent's sessions (it left): their next tasks are placed afresh."""
        for key in self.of(agent_id):
            self._holder.pop(key, None)
        self._by_agent.pop(agent_id, None)
