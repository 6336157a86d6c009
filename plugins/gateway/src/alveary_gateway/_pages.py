"""Pages other plugins serve through the gateway (``/metrics`` of alveary-metrics).

A plugin offers pages with a ``gateway_pages`` attribute: a mapping from a path to an object
with ``action`` (an ``alveary.ACTIONS`` entry, checked on ``*`` before each answer) and
``render(accept) -> (body, content_type)``, a plain function given the ``Accept`` header.
Neither side imports the other. A page may be under ``/v1`` (``/v1/slo``) where no route of
the gateway's own is: ``/v1/tasks/x`` is refused, as are ``/docs``, ``/openapi`` and ``/schema``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from alveary import ACTIONS, Host
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from ._access import credentials

RESERVED = ("/docs", "/openapi", "/schema")


class Page(Protocol):
    """What a plugin lists in ``gateway_pages``."""

    action: str

    def render(self, accept: str) -> tuple[bytes, str]: ...


def page_routes(host: Host, own: Iterable[str]) -> list[HTTPRouteHandler]:
    """A GET route for each page the plugins offer; raises ``ValueError`` for a page the
    gateway cannot serve (a malformed path, one under the ``own`` routes' first two
    segments or a reserved prefix, an unknown action)."""
    taken = {_head(path) for path in own} | {"/v1"}
    routes = []
    for name, plugin in host.plugins.items():
        pages: Mapping[str, Page] | None = getattr(plugin, "gateway_pages", None)
        for path, page in (pages or {}).items():
            malformed = not path.startswith("/") or path == "/" or "{" in path
            if malformed or path.startswith(RESERVED) or _head(path) in taken:
                raise ValueError(f"plugin {name!r} offers a page at {path!r}, a path not its own")
            if page.action not in ACTIONS:
                raise ValueError(f"plugin {name!r}: page {path!r} needs an unknown action")
            routes.append(_route(host, name, path, page))
    return routes


def _head(path: str) -> str:
    """The first two segments of ``path``: ``/v1/tasks`` of ``/v1/tasks/{task_id}``."""
    return "/".join(path.rstrip("/").split("/")[:3])


def _route(host: Host, plugin: str, path: str, page: Page) -> HTTPRouteHandler:
    @get(path, include_in_schema=False, name=f"{plugin}:{path}")
    async def serve(request: Request[Any, Any, Any]) -> Response[bytes]:
        await host.authorize(credentials(request), page.action, "*")
        body, content_type = page.render(request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    return serve
