"""Requests a browser makes on behalf of another site are refused: cross-site request forgery,
cross-site WebSockets and DNS rebinding, against a gateway that trusts its loopback address.

A page on any site can make the browser of whoever runs alveary ``POST`` to
``http://127.0.0.1:8787/v1/tasks`` (a ``text/plain`` body needs no CORS preflight) or open a
WebSocket to ``/v1/agents/connect``; a name that resolves to 127.0.0.1 after its page loaded
(DNS rebinding) can even read the answers. So, before any route:

- on a loopback listener, the ``Host`` header must name this machine (``localhost`` or a
  loopback address): any other name is a page that rebound its own;
- a request that changes something (``POST``, ``PUT``, ``DELETE``, ``PATCH``) or opens a
  WebSocket, sent by a browser for a page of another origin, is refused with 403. Browsers
  say so with ``Sec-Fetch-Site`` (``same-origin`` and ``none``, typed by the user, pass) or,
  older ones, with an ``Origin`` that differs from ``Host``. An origin in ``trusted_origins``
  passes (and gets CORS answers, so its pages can read them).

Programs (httpx, curl, remote agents) send neither header and pass, as does the dashboard,
which is served from the gateway's own origin. This is the check of Go's
``http.CrossOriginProtection``, with the ``Host`` check added for loopback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from urllib.parse import urlsplit

from alveary.validators import names_loopback
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

_UNSAFE = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_SAME = frozenset({b"same-origin", b"none"})


def origin_of(text: str) -> str:
    """``text`` as an origin (``scheme://host[:port]``, lower case); raises ``ValueError``
    for anything else (a path, ``*``, ``null``)."""
    parts = urlsplit(text.strip())
    try:
        parts.port  # noqa: B018 - a port that is no number raises here
    except ValueError:
        raise ValueError(f"expected an origin like https://host:port, got {text!r}") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(f"expected an origin like https://host:port, got {text!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def guard(loopback: bool, trusted: Collection[str]) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware refusing what the module says, for a gateway listening on a loopback
    address (``loopback``) or not, that trusts the pages of ``trusted`` origins."""
    allowed = frozenset(trusted)

    def wrap(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            reason = refusal(scope, loopback, allowed)
            if reason is None:
                await app(scope, receive, send)
            elif scope["type"] == ScopeType.WEBSOCKET:
                await send({"type": "websocket.close", "code": 4403, "reason": reason})
            else:
                await _forbidden(send, reason)

        return guarded

    return wrap


def refusal(scope: Scope, loopback: bool, trusted: frozenset[str]) -> str | None:
    """Why the request of ``scope`` is refused, or None."""
    host = origin = site = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value
        elif name == b"origin":
            origin = value
        elif name == b"sec-fetch-site":
            site = value
    if loopback and host is not None and not names_loopback(_text(host)):
        return f"refused: Host {_text(host)!r} does not name this machine"
    if scope["type"] != ScopeType.WEBSOCKET and scope.get("method") not in _UNSAFE:
        return None
    if origin is not None and _text(origin).lower() in trusted:
        return None
    if site is not None:
        if site in _SAME:
            return None
    elif origin is None or (host is not None and _authority(origin) == host.lower()):
        return None
    shown = _text(origin) if origin is not None else "another site"
    return f"refused: a request from a page of {shown!r} (not in trusted_origins)"


def _authority(origin: bytes) -> bytes:
    """``http://127.0.0.1:8787`` -> ``127.0.0.1:8787``: what ``Host`` says for it."""
    return origin.lower().partition(b"://")[2]


def _text(value: bytes) -> str:
    return value.decode("latin-1")


async def _forbidden(send: Send, reason: str) -> None:
    body = json.dumps({"error": {"code": "forbidden", "message": reason, "field": None}})
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 403,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body.encode(), "more_body": False})
