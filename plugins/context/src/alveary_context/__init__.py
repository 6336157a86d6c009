"""alveary-context: context-aware routing for alveary. Sessions stay with the agent holding
their context while its load stays bounded (alveary-balancer's bounded-load ring), agents are
scored by expertise learned per task kind, and agents whose context window fills up sleep or
are recycled through their pool."""

from __future__ import annotations

from ._config import Config, ExpertiseWeights
from ._expertise import Expertise
from ._explain import Explanation, Ranked
from ._plugin import NAMESPACE, Context
from ._pressure import Action, Pressure
from ._profiles import Profile, Profiles
from ._sessions import Sessions
from ._strategy import ContextStrategy

__all__ = [
    "NAMESPACE",
    "Action",
    "Config",
    "Context",
    "ContextStrategy",
    "Expertise",
    "ExpertiseWeights",
    "Explanation",
    "Pressure",
    "Profile",
    "Profiles",
    "Ranked",
    "Sessions",
]
