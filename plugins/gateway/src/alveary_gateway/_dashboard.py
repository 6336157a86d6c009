"""The dashboard: one page at ``/`` (``static/``: HTML, a script, a style sheet) that shows
pools, agents, the queue, recent tasks and live events through the public API only.

The page takes the root, which the OpenAPI router would give to its default page: it is the
router's root render plugin, and its files are routes of that router, so none of them is an
API operation in the OpenAPI document. Every response for them carries ``PAGE_HEADERS``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from litestar import MediaType, Request, Response, Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.types import Message, Scope

EVERY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
"""On every response of the gateway: no content sniffing, no framing, no referrer."""

PAGE_HEADERS = {
    # Only this origin: no inline script or style, no plugin, no other site framing the page.
    "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "cache-control": "no-cache",
}
"""On the dashboard's files, besides ``EVERY_HEADERS``."""

_ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
PATHS = frozenset({"/", *(f"/{name}" for name in _ASSETS)})


def _read(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


class Dashboard(OpenAPIRenderPlugin):
    """The page at ``/`` and its script and style sheet, read once from the package."""

    def __init__(self) -> None:
        super().__init__(path="/", media_type=MediaType.HTML)
        self._page = _read("index.html")
        self._assets = {name: (_read(name), media) for name, media in _ASSETS.items()}

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self._page

    def receive_router(self, router: Router) -> None:
        for name, (body, media) in self._assets.items():
            router.register(_asset(name, body, media))


def _asset(name: str, body: bytes, media: str) -> HTTPRouteHandler:
    @get(f"/{name}", media_type=f"{media}; charset=utf-8", include_in_schema=False, name=name)
    async def asset() -> Response[bytes]:
        return Response(body)

    return asset


_EVERY = [(k.encode(), v.encode()) for k, v in EVERY_HEADERS.items()]
_PAGE = [(k.encode(), v.encode()) for k, v in PAGE_HEADERS.items()]


async def security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: ``EVERY_HEADERS`` on every response, and ``PAGE_HEADERS`` on
    the dashboard's files (the root page's handler is the OpenAPI router's own, so its
    headers cannot be set where it is served)."""
    if message["type"] == "http.response.start":
        extra = _EVERY + _PAGE if scope["path"] in PATHS else _EVERY
        message["headers"] = [*message.get("headers", []), *extra]
