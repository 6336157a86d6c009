"""Benchmark alveary-hooks: what ``alveary_event`` costs per event on the kernel's hot path.

    uv run python benchmarks/hooks.py

Calls the plugin's ``alveary_event`` the way the kernel does for every event, over the task
and agent event types in turn, with N shell hooks and N webhooks configured that are bound to
other events (half by exact type, half by wildcard): the cost of finding that nothing is to be
done; and a plugin whose ``alveary_event`` does nothing, the floor. Then, for scale, one hook
bound to every task event whose field match fails (the event's document is built, without
task or agent look-ups), and one that queues each event for its webhook. Prints nanoseconds
per event; never fails on a timing.
"""

from __future__ import annotations

import time
from typing import Any

from alveary import Event, structure
from alveary_hooks import Config, Hooks

N = 200_000
TYPES = [
    "task.pending",
    "task.assigned",
    "task.running",
    "task.succeeded",
    "agent.busy",
    "agent.ready",
]
EVENTS = [Event(t, 0.0, i, "t1", "a1", {"attempt": 1}) for i, t in enumerate(TYPES)]


class Empty:
    """A plugin whose ``alveary_event`` does nothing: the price of the call itself."""

    def alveary_event(self, event: Event) -> None:
        return None


def per_event(plugin: Hooks | Empty, n: int = N) -> float:
    """Best of five runs, in nanoseconds per event."""
    hook = plugin.alveary_event
    events = EVENTS * (n // len(EVENTS))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for event in events:
            hook(event)
        best = min(best, (time.perf_counter_ns() - start) / len(events))
    return best


def build(settings: dict[str, Any]) -> Hooks:
    return Hooks(structure(settings, Config))


def others(n: int) -> dict[str, Any]:
    """``n`` commands and ``n`` webhooks bound to events that never happen here."""
    on = [[f"deploy.{i}"] if i % 2 else [f"alert{i}.*"] for i in range(n)]
    return {
        "commands": [{"name": f"c{i}", "command": ["true"], "on": on[i]} for i in range(n)],
        "webhooks": [
            {"name": f"w{i}", "url": "http://127.0.0.1:9/", "on": on[i]} for i in range(n)
        ],
    }


def main() -> None:
    rows: list[tuple[str, Hooks | Empty]] = [("an empty alveary_event, for scale", Empty())]
    rows += [(f"{n} commands + {n} webhooks, none bound", build(others(n))) for n in (0, 10, 100)]
    unmatched = {"commands": [{"command": ["true"], "on": ["task.*"], "match": {"kind": "x"}}]}
    rows.append(("1 command on task.*, its match fails", build(unmatched)))
    queued = {"webhooks": [{"url": "http://127.0.0.1:9/", "on": ["task.*"], "queue": 2**31}]}
    rows.append(("1 webhook on task.*, queued", build(queued)))
    width = max(len(name) for name, _ in rows)
    print(f"{'alveary_event with':<{width}}  ns/event")
    for name, plugin in rows:
        print(f"{name:<{width}}  {per_event(plugin):8.0f}")


if __name__ == "__main__":
    main()
