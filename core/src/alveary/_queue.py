"""The wait queue: tasks no agent can take yet, by requirement set, priority, then FIFO."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

from ._records import Task
from ._states import TaskState

_Entry = tuple[int, int, Task]


class WaitQueue:
    """One heap per set of required capabilities, so a task nobody can take does not block
    tasks that need something else. Cancelled entries are skipped lazily."""

    __slots__ = ("_heaps", "_seq", "size")

    def __init__(self) -> None:
        self._heaps: dict[frozenset[str], list[_Entry]] = {}
        self._seq = 0
        self.size = 0

    def push(self, task: Task) -> None:
        self._seq += 1
        key = task.spec.requires
        heap = self._heaps.get(key)
        if heap is None:
            heap = self._heaps[key] = []
        heapq.heappush(heap, (-task.spec.priority, self._seq, task))
        self.size += 1

    def waiting(self, requires: frozenset[str]) -> bool:
        """True if tasks with exactly these requirements are waiting (new ones go behind)."""
        return bool(self._heaps.get(requires))

    def discard(self) -> None:
        """Account for a queued task that left the queue other than by ``pop``."""
        self.size -= 1

    def heads(self, capabilities: frozenset[str] | None) -> Sequence[tuple[frozenset[str], Task]]:
        """The first live task of each heap an agent with ``capabilities`` could serve (every
        heap when None), best first."""
        heads = []
        for key, heap in list(self._heaps.items()):
            if capabilities is not None and not key <= capabilities:
                continue
            while heap and heap[0][2].state is not TaskState.QUEUED:
                heapq.heappop(heap)
            if not heap:
                del self._heaps[key]
                continue
            heads.append((heap[0][0], heap[0][1], key, heap[0][2]))
        if len(heads) > 1:
            heads.sort()  # (priority, arrival) are never equal: keys and tasks never compare
        return [(key, task) for _, _, key, task in heads]

    def pop(self, key: frozenset[str]) -> Task:
        task = heapq.heappop(self._heaps[key])[2]
        if not self._heaps[key]:
            del self._heaps[key]
        self.size -= 1
        return task

    def tasks(self) -> Iterator[Task]:
        for heap in self._heaps.values():
            for _, _, task in heap:
                if task.state is TaskState.QUEUED:
                    yield task
