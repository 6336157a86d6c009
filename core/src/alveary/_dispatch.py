"""The dispatcher: route a task to an agent, or queue it and say why; pump the queue when
capacity appears; reserve and release agents' slots.

Routing is synchronous and on the hot path (see DESIGN: candidates, filter, score, select,
reserve). Every plugin answer on the way goes through ``Hooks``, so a broken filter, scorer
or strategy costs its plugin a failure, never the task.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from ._components import Strategy
from ._events import EventBus
from ._hooks import Hooks
from ._queue import WaitQueue
from ._records import Agent, Task
from ._registry import Registry
from ._routing import Candidates
from ._states import AgentState, TaskState
from ._taskbook import TaskBook
from ._timers import Deadlines


class Dispatcher:
    """Places tasks on agents. ``start`` runs an attempt once a slot is reserved."""

    def __init__(
        self,
        hooks: Hooks,
        registry: Registry,
        book: TaskBook,
        events: EventBus,
        deadlines: Deadlines,
        now: Callable[[], float],
        rng: random.Random,
        sample: int,
        pool_capabilities: Callable[[], Iterable[frozenset[str]]],
        start: Callable[[Task, Agent], None],
        strategy: Strategy,
        strategy_owner: str,
    ) -> None:
        self._hooks = hooks
        self._registry = registry
        self._book = book
        self._events = events
        self._deadlines = deadlines
        self._now = now
        self._rng = rng
        self._sample = sample
        self._pool_capabilities = pool_capabilities
        self._start = start
        self.queue = WaitQueue()
        self.strategy = strategy
        self._owner = strategy_owner
        """The plugin that provides the strategy: a failing strategy counts against it."""

    def route(self, task: Task) -> Agent | None:
        """The agent to run ``task`` now, or None: candidates, filters, strategy."""
        bucket, exact = self._registry.index.bucket(task.spec.requires)
        if not bucket:
            return None
        hooks = self._hooks
        candidates = Candidates(
            task,
            bucket,
            exact,
            self._rng,
            hooks.route_score if hooks.has_scorers else None,
            self._sample,
        )
        if hooks.has_filters:
            hooks.route_filter(task, candidates)
        return hooks.select(self.strategy, self._owner, task, candidates)

    def place(self, task: Task) -> None:
        """Dispatch ``task`` now if an agent can take it and nothing like it waits; else
        queue it (saying why when nothing could ever take it)."""
        requires = task.spec.requires
        if not self.queue.waiting(requires):
            agent = self.route(task)
            if agent is not None:
                self.assign(task, agent)
                return
        self.queue.push(task)
        self._book.transition(task, TaskState.QUEUED)
        limit = task.spec.queue_timeout
        if limit is not None:
            self._deadlines.at(self._now() + limit, self._expire, task)
        reason = self.unplaceable(requires)
        if reason is not None:
            self._events.emit(
                "routing.unplaceable",
                task=task,
                data={"reason": reason, "requires": sorted(requires)},
            )

    def unplaceable(self, requires: frozenset[str]) -> str | None:
        """Why no agent, now or later, could take a task needing ``requires``; None if some
        registered agent or some pool could."""
        if self._registry.could_serve(requires):
            return None
        if any(requires <= caps for caps in self._pool_capabilities()):
            return None
        if not requires:
            return "no agent is registered and no pool is declared"
        needs = ", ".join(sorted(requires))
        return f"no registered agent and no pool has every capability it requires ({needs})"

    def _expire(self, task: Task) -> None:
        limit = task.spec.queue_timeout
        if task.state is not TaskState.QUEUED or limit is None:
            return
        if self._now() - task.times.get("queued", task.submitted) < limit:
            return  # queued again since: a later deadline covers it
        self.queue.discard()
        why = self.unplaceable(task.spec.requires) or "no agent able to take it had a free slot"
        self._book.fail_now(task, TaskState.FAILED, f"waited {limit:g} s in the queue: {why}")

    def pump(self, capabilities: frozenset[str] | None) -> None:
        """Capacity appeared for agents with ``capabilities`` (None: anywhere): route waiting
        tasks, best priority first, until no head can be placed."""
        queue, ready = self.queue, self._registry.index.agents
        if not queue.size or self._book.closing:
            return
        progress = True
        while progress and queue.size and ready:  # no agent ready: nothing to route to
            progress = False
            for key, task in queue.heads(capabilities):
                agent = self.route(task)
                if agent is not None:
                    queue.pop(key)
                    self.assign(task, agent)
                    progress = True
                    break

    def assign(self, task: Task, agent: Agent) -> None:
        agent.in_flight += 1
        if agent.in_flight >= agent.spec.capacity:
            self._registry.set_state(agent, AgentState.BUSY)
        task.agent_id = agent.id
        task.attempts += 1
        self._book.transition(task, TaskState.ASSIGNED, {"attempt": task.attempts})
        self._start(task, agent)

    def release(self, agent: Agent) -> None:
        """Free the slot an attempt held, and give it to a waiting task."""
        agent.in_flight -= 1
        if agent.state is AgentState.BUSY:
            self._registry.set_state(agent, AgentState.READY)
            self.pump(agent.spec.capabilities)
        elif agent.state is AgentState.READY:
            self.pump(agent.spec.capabilities)
        self._registry.released(agent)
