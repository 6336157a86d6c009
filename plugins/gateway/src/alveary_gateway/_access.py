"""What every handler needs: the caller's credentials and checked, bounded query values."""

from __future__ import annotations

import math
from typing import Any

from litestar import Request

from ._errors import ApiError


def credentials(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The request's credentials for the kernel's security hooks: ``token`` from
    ``Authorization: Bearer ...``, ``api_key`` from ``X-API-Key``."""
    found = {}
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        found["token"] = token.strip()
    key = request.headers.get("x-api-key", "").strip()
    if key:
        found["api_key"] = key
    return found


def seconds(value: float, field: str, most: float) -> float:
    """A duration from the query, finite and in ``[0, most]``; 422 naming ``field`` else."""
    if not math.isfinite(value) or not 0 <= value <= most:
        raise ApiError(422, "invalid", f"expected seconds in [0, {most:g}], got {value}", field)
    return value
