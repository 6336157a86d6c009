"""alveary-security: API keys and JWT bearer tokens, roles per action and capability, rate
limits and a hash-chained audit log, for alveary."""

from __future__ import annotations

from ._audit import CATEGORIES, AuditLog, verify
from ._config import Config, Jwt, Limits, Role
from ._keys import KeyStore
from ._limits import Limited
from ._plugin import Security
from ._policy import Policy

__all__ = [
    "CATEGORIES",
    "AuditLog",
    "Config",
    "Jwt",
    "KeyStore",
    "Limited",
    "Limits",
    "Policy",
    "Role",
    "Security",
    "verify",
]
