"""alveary-security: API keys and JWT bearer tokens, roles per action and capability, rate
limits, a hash-chained audit log and a dangerous-command guard, for alveary."""

from __future__ import annotations

from ._audit import CATEGORIES, AuditLog, verify
from ._commands import Guard
from ._config import Actions, Commands, Config, Jwt, Limits, Role
from ._keys import KeyStore
from ._limits import Limited
from ._plugin import Security
from ._policy import Policy
from ._rules import ACTIONS, BUILTIN, RISKS, Rule

__all__ = [
    "ACTIONS",
    "BUILTIN",
    "CATEGORIES",
    "RISKS",
    "Actions",
    "AuditLog",
    "Commands",
    "Config",
    "Guard",
    "Jwt",
    "KeyStore",
    "Limited",
    "Limits",
    "Policy",
    "Role",
    "Rule",
    "Security",
    "verify",
]
