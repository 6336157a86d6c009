"""Explaining a routing choice: the best agents for a task, each part of their score, the
confidence in the first, and a sentence saying why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
from alveary import Agent, AgentState, Task

from ._expertise import Expertise


@attrs.frozen
class Ranked:
    """One agent's standing for a task."""

    agent: str
    score: float
    confidence: float
    parts: Mapping[str, float]
    holds_session: bool = False


@attrs.frozen
class Explanation:
    """The agents that could take a task now, best first, and why the first."""

    kind: str
    ranked: tuple[Ranked, ...]
    confidence: float
    """How sure the choice is: the first agent's confidence, times its lead over the best
    agent scoring lower (a lead of 0.25 or more counts fully; agents scoring the same are
    interchangeable)."""
    text: str

    @property
    def choice(self) -> Ranked | None:
        return self.ranked[0] if self.ranked else None


def explain(
    task: Task,
    agents: Iterable[Agent],
    expertise: Expertise,
    holder: str | None,
    blocked: set[str],
    top: int,
) -> Explanation:
    """Rank the agents that could take ``task`` now (ready, a free slot, every capability,
    not held back by context pressure) by expertise, the session's holder first on ties."""
    ranked = []
    for agent in agents:
        if (
            agent.state is not AgentState.READY
            or agent.in_flight >= agent.spec.capacity
            or not task.spec.requires <= agent.spec.capabilities
            or agent.id in blocked
        ):
            continue
        parts = expertise.parts(task, agent)
        ranked.append(
            Ranked(
                agent.name,
                round(expertise.value(parts), 4),
                round(parts["confidence"], 4),
                {k: round(v, 4) for k, v in parts.items() if k != "confidence"},
                agent.id == holder,
            )
        )
    ranked.sort(key=lambda r: (-r.score, not r.holds_session, r.agent))
    best = ranked[:top]
    if not best:
        return Explanation(task.kind, (), 0.0, f"no agent can take a {task.kind!r} task now")
    first = best[0]
    # the lead over the best agent that scores lower (equals are interchangeable); a lead of
    # 0.25 or more counts fully
    runner = next((r for r in ranked if r.score < first.score), None)
    margin = 1.0 if runner is None else min(1.0, 4 * (first.score - runner.score))
    confidence = round(first.confidence * margin, 4)
    why = [f"{first.agent} scores {first.score:.2f} for {task.kind!r}"]
    learned = first.parts.get("learned")
    if first.confidence > 0:
        why.append(f"learned {learned:.2f} at {first.confidence:.0%} confidence")
    else:
        why.append("nothing learned yet: judged by declared skill")
    if first.holds_session:
        why.append("it holds the session's context")
    if len(best) > 1:
        others = ", ".join(f"{r.agent} {r.score:.2f}" for r in best[1:])
        why.append(f"next: {others}")
    return Explanation(task.kind, tuple(best), confidence, "; ".join(why))
