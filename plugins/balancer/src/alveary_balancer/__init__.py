"""alveary-balancer: routing strategies (round robin, smooth weighted round robin, least
outstanding, power of d choices, consistent hashing with bounded loads, weighted score,
adaptive), a routing score and capacity tiers for alveary.

``BoundedLoadRing``, ``Fleet`` and ``plan_moves`` are public helpers that other plugins
(alveary-context) build on.
"""

from __future__ import annotations

from ._base import Picker
from ._choice import Adaptive, LeastOutstanding, PowerOfD, WeightedScore
from ._config import Config, ScoreWeights
from ._fleet import Fleet, Group
from ._hashing import BoundedHash, GroupRing
from ._hashring import BoundedLoadRing, hash64
from ._load import Admission
from ._plugin import Balancer
from ._rebalance import Move, plan_moves
from ._rotation import RoundRobin, SmoothWeighted
from ._scores import Scorer

__all__ = [
    "Adaptive",
    "Admission",
    "Balancer",
    "BoundedHash",
    "BoundedLoadRing",
    "Config",
    "Fleet",
    "Group",
    "GroupRing",
    "LeastOutstanding",
    "Move",
    "Picker",
    "PowerOfD",
    "RoundRobin",
    "ScoreWeights",
    "Scorer",
    "SmoothWeighted",
    "WeightedScore",
    "hash64",
    "plan_moves",
]
