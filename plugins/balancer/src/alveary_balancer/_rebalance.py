"""Rebalancing placements: which sticky assignments to move from hot agents to cool ones.

The kernel never queues a task on an agent (a task leaves the wait queue only into a free
slot), so nothing waits behind a busy agent; what drifts out of balance are placements a
plugin keeps: sessions held by an agent (alveary-context), keys pinned by a policy. This is
the decision, kept separate from who holds what.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs


@attrs.frozen
class Move:
    """Move ``item`` from agent ``source`` to agent ``target``."""

    item: str
    source: str
    target: str


def plan_moves(
    loads: Mapping[str, float],
    items: Mapping[str, Iterable[str]],
    *,
    margin: float = 0.2,
    limit: int = 3,
) -> list[Move]:
    """Up to ``limit`` moves of movable ``items`` (per agent, best candidates first) from
    agents loaded above the mean + ``margin`` to agents below the mean - ``margin``: every
    move crosses a gap of at least ``2 * margin``, so the benefit is clear. Moves go from
    the hottest source to the coolest target, one item per pair in turn; the caller
    measures again before planning more (a few moves a tick converge without overshoot)."""
    if not loads or limit <= 0:
        return []
    mean = sum(loads.values()) / len(loads)
    hot = sorted((a for a, x in loads.items() if x > mean + margin), key=lambda a: -loads[a])
    cool = sorted((a for a, x in loads.items() if x < mean - margin), key=lambda a: loads[a])
    queues = {a: list(items.get(a, ())) for a in hot}
    moves: list[Move] = []
    t = 0
    while cool and len(moves) < limit and any(queues.values()):
        for source in hot:
            if len(moves) >= limit:
                break
            if queues[source]:
                moves.append(Move(queues[source].pop(0), source, cool[t % len(cool)]))
                t += 1
    return moves
