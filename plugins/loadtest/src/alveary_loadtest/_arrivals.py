"""When the tasks of a load phase arrive: offsets in seconds from the phase's start."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from ._plan import Arrival, Mix


def arrivals(arrival: Arrival, duration: float, rng: random.Random) -> Iterator[float]:
    """Offsets of the arrivals in ``[0, duration)``: evenly spaced at the rate of the moment
    (``constant``, ``ramp``, ``step``), or a Poisson process (``poisson``: exponential gaps
    drawn from ``rng``, so a seed gives the same run)."""
    t = 0.0
    while t < duration:
        yield t
        rate = arrival.rate_at(t, duration)
        t += rng.expovariate(rate) if arrival.pattern == "poisson" else 1.0 / rate


def choose(mix: Sequence[Mix], rng: random.Random) -> Mix:
    """One entry of the mix, drawn by weight."""
    return rng.choices(mix, weights=[m.weight for m in mix])[0]
