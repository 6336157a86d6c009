"""What every handler needs: the caller's credentials and checked, bounded query values."""

from __future__ import annotations

import math
from typing import Any

from litestar.connection import ASGIConnection

from ._errors import ApiError


def credentials(request: ASGIConnection[Any, Any, Any, Any]) -> dict[str, str]:
    """The request's credentials for the kernel's security hooks, as ``alveary-security``
    reads them: the ``authorization`` and ``x-api-key`` headers as sent, and the ``client``
    address (for its limits on failed authentication)."""
    found = {}
    for header in ("authorization", "x-api-key"):
        value = request.headers.get(header, "").strip()
        if value:
            found[header] = value
    if request.client is not None:
        found["client"] = request.client.host
    return found


def seconds(value: float, field: str, most: float) -> float:
    """A duration from the query, finite and in ``[0, most]``; 422 naming ``field`` else."""
    if not math.isfinite(value) or not 0 <= value <= most:
        raise ApiError(422, "invalid", f"expected seconds in [0, {most:g}], got {value}", field)
    return value


MAX_DEPTH = 100
"""How deeply a payload may nest: deeper ones are refused, not left to whichever recursion
limit (the JSON codec's, the store's, an agent's) they would hit first."""


def too_deep(value: Any, limit: int) -> bool:
    """True if ``value`` nests lists and objects more than ``limit`` levels; iterative, so a
    hostile value cannot exhaust the stack checking it."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False
