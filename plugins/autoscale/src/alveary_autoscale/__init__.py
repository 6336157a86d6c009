"""alveary-autoscale: pool autoscaling for alveary, with policies made of data."""

from __future__ import annotations

from ._config import METRICS, Condition, Config, Policy, Rule
from ._decide import Decision, Scaler
from ._plugin import Autoscale

__all__ = ["METRICS", "Autoscale", "Condition", "Config", "Decision", "Policy", "Rule", "Scaler"]
