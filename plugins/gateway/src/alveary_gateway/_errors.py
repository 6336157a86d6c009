"""Errors as JSON of one shape, ``{"error": {"code", "message", "field"}}``, with the status
that says what went wrong: bad input is a 4xx, never a 500."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import attrs
import structlog
from alveary import AlvearyError, Denied, NotFound, Rejected, StandingBy
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec

from ._records import ErrorBody, ErrorDetail

_MISSING = re.compile(r"missing required field `(\w+)`")
log = structlog.get_logger("alveary.gateway")


_MEANINGS = {
    400: "A malformed request: a body that is not JSON, holds NaN or infinity, or nests too deeply",
    401: "A security plugin needs credentials",
    403: "A security plugin refuses the action",
    404: "No such task, agent or pool",
    409: "The action conflicts with the state the target is in",
    413: "The body is larger than `max_body`",
    422: "A wrong, missing or unknown field or query value, named in `field`",
    429: "Too many requests; `Retry-After` says when to try again",
    503: "The orchestrator is stopping or stands by",
}
GUARDED = (401, 403, 429, 503)
"""What any call checked by the security hooks may answer."""


def documented(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers an operation may give, in its OpenAPI document (all in one shape)."""
    return {
        status: ResponseSpec(ErrorBody, description=_MEANINGS[status], generate_examples=False)
        for status in statuses
    }


class ApiError(Exception):
    """Raised by a handler to answer with this status, code, message and field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def answer(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    body = attrs.asdict(ErrorBody(ErrorDetail(code, message, field)))
    return Response(body, status_code=status, headers=headers)


def _api(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return answer(exc.status, exc.code, exc.message, exc.field)


def _value(request: Request[Any, Any, Any], exc: ValueError) -> Response[Any]:
    """A ``TaskSpec`` or pool size that its validators refused (``FieldError`` names the
    field)."""
    field = getattr(exc, "field", None)
    return answer(422, "invalid", getattr(exc, "message", str(exc)), field)


def _kernel(request: Request[Any, Any, Any], exc: AlvearyError) -> Response[Any]:
    if isinstance(exc, NotFound):
        return answer(404, "not_found", str(exc))
    if isinstance(exc, Denied):
        retry_after = getattr(exc, "retry_after", None)  # a rate limit (alveary-security)
        if isinstance(retry_after, (int, float)):
            response = answer(429, "too_many", str(exc))
            response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
            return response
        if exc.unavailable:  # a security plugin failed: nothing was decided about the caller
            return answer(503, "unavailable", str(exc))
        if exc.unauthenticated:
            return answer(401, "unauthenticated", str(exc))
        return answer(403, "forbidden", str(exc))
    if isinstance(exc, Rejected):
        return answer(422, "rejected", str(exc))
    if isinstance(exc, StandingBy):
        return answer(503, "standby", str(exc))
    if "not running" in str(exc) or "stopping" in str(exc):
        return answer(503, "unavailable", str(exc))
    return answer(409, "conflict", str(exc))


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own refusals: malformed JSON, a body too large, a wrong type, a route or
    method that does not exist."""
    status = exc.status_code
    if isinstance(exc, ValidationException):
        problems = exc.extra if isinstance(exc.extra, list) else []
        first = problems[0] if problems and isinstance(problems[0], dict) else {}
        if first.get("key") == "data" and first.get("message") == "'data'":
            return answer(400, "bad_request", "expected a JSON body")  # there was none
        if first:  # a value of the wrong type or a missing field: the body parsed
            message = str(first.get("message", exc.detail))
            missing = _MISSING.search(message)
            field = missing[1] if missing else first.get("key")
            return answer(422, "invalid", message, field)
        return answer(400, "bad_request", str(exc.detail))
    codes = {
        400: "bad_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        429: "too_many",
    }
    headers = dict(exc.headers or {})  # a 405's Allow, a 429's Retry-After
    message = str(exc.detail)
    if status == 404:  # the router found no route: a wrong path, or its plugin is not enabled
        message = f"no route {request.method} {request.url.path} here (see /openapi.json)"
    elif status == 405 and "allow" in {name.lower() for name in headers}:
        allowed = next(value for name, value in headers.items() if name.lower() == "allow")
        message = f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})"
    return answer(status, codes.get(status, "http_error"), message, headers=headers)


def _deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    return answer(400, "bad_request", "the body is nested too deeply")


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("gateway request failed", path=request.url.path)
    return answer(500, "internal", f"{type(exc).__name__}: the server failed; see its log")


HANDLERS: dict[int | type[Exception], Callable[[Request[Any, Any, Any], Any], Response[Any]]] = {
    ApiError: _api,
    HTTPException: _http,
    AlvearyError: _kernel,
    ValueError: _value,
    RecursionError: _deep,
    Exception: _unexpected,
}
"""Exception type -> handler, for ``Litestar(exception_handlers=...)``."""
