"""Fan one task out to several tools and compare their answers.

Each tool's pool carries the capability ``tool:<name>`` (``alveary agents detect`` writes it),
so a copy of the task that requires it runs on that tool. The answer most tools agree on wins.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import alveary
import attrs


def default_key(value: Any) -> str:
    """What counts as the same answer: a one-shot tool's standard output with surrounding
    whitespace removed, or any other value as canonical JSON."""
    if isinstance(value, Mapping) and "stdout" in value:
        value = value["stdout"]
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, sort_keys=True, default=repr)


@attrs.frozen
class Consensus:
    """The outcome per tool, and the answer the largest group of successful tools gave."""

    outcomes: Mapping[str, alveary.Outcome]
    answer: Any = None
    """A value from the winning group (None when no tool succeeded)."""
    agreeing: tuple[str, ...] = ()
    """The tools that gave the winning answer, in the order they were asked."""

    @property
    def agreement(self) -> float:
        """The share of all tools asked that gave the winning answer."""
        return len(self.agreeing) / len(self.outcomes) if self.outcomes else 0.0


async def consensus(
    orchestrator: alveary.Orchestrator,
    spec: alveary.TaskSpec,
    tools: Sequence[str],
    *,
    key: Callable[[Any], Any] = default_key,
    timeout: float | None = None,
) -> Consensus:
    """Submit a copy of ``spec`` per tool (each also requiring ``tool:<name>``), wait for all
    of them (at most ``timeout`` seconds; unfinished copies are cancelled), and group the
    successful values by ``key``. Ties go to the group whose first tool comes first."""
    if not tools:
        raise ValueError("consensus needs at least one tool")
    handles = [
        await orchestrator.submit(
            attrs.evolve(
                spec,
                requires=spec.requires | {f"tool:{tool}"},
                idempotency_key=f"{spec.idempotency_key}:{tool}" if spec.idempotency_key else None,
            )
        )
        for tool in tools
    ]
    try:
        outcomes = await alveary.results(handles, timeout)
    except asyncio.TimeoutError:
        for handle in handles:
            await handle.cancel()
        outcomes = await alveary.results(handles)
    by_tool = dict(zip(tools, outcomes, strict=True))
    groups: dict[Any, list[str]] = {}
    for tool, outcome in by_tool.items():
        if outcome.ok:
            groups.setdefault(key(outcome.value), []).append(tool)
    if not groups:
        return Consensus(by_tool)
    best = max(groups.values(), key=len)  # max keeps the first of equals: insertion order
    return Consensus(by_tool, by_tool[best[0]].value, tuple(best))
