"""``OneToken``: the smallest security plugin, for tests of code that sits behind one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._records import Principal
from ..hookspecs import hookimpl


class OneToken:
    """Lets in the bearer of ``token`` (``Authorization: Bearer <token>``) as ``principal``,
    allowed everything; nobody else is authenticated. Pass it in ``plugins=[...]``."""

    name = "one-token"

    def __init__(self, token: str, principal: str = "operator") -> None:
        self.token = token
        self.principal = Principal(principal)

    @hookimpl
    def alveary_authenticate(self, credentials: Mapping[str, Any]) -> Principal | None:
        if credentials.get("authorization") == f"Bearer {self.token}":
            return self.principal
        return None
