"""The Litestar application: the routes, health and readiness, live events, the OpenAPI
document, the dashboard and the error shape."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from alveary import Host
from alveary.validators import is_loopback, split_listen
from litestar import HttpMethod, Litestar, Request, Response, get, route
from litestar.config.cors import CORSConfig
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromQuery
from litestar.plugins.attrs import AttrsSchemaPlugin
from litestar.response import Stream

from . import _errors
from ._access import credentials
from ._api import api_routes
from ._approvals import approval_routes
from ._config import Config
from ._connect import connect_route
from ._dashboard import Dashboard, security_headers
from ._errors import GUARDED, documented
from ._fleet import fleet_routes
from ._origin import guard
from ._pages import page_routes
from ._records import Status
from ._remote import RemoteRuntime
from ._stream import Hub
from ._tasks import task_routes


def build(host: Host, config: Config, hub: Hub, remote: RemoteRuntime, version: str) -> Litestar:
    """The app serving ``host``: every route under ``/v1``, ``/openapi.json``, ``/docs``, the
    dashboard at ``/``, and the pages and API routes other plugins offer (``/metrics``,
    ``/v1/workflows``)."""

    @get("/v1/health", summary="Liveness: the server answers")
    async def health() -> Status:
        return Status(ok=True)

    @get(
        "/v1/ready",
        summary="Readiness: 503 on a standby replica, naming the leader, or while a remote "
        "pool has fewer agents connected than its `min`",
        responses={
            503: ResponseSpec(
                Status,
                description="A standby replica (use `leader`), or remote pools short of "
                "agents (`missing`)",
            )
        },
    )
    async def ready() -> Response[Status]:
        leader = host.standby
        missing = {
            name: pool.size.min - metrics.agents
            for name, pool in host.pools.items()
            if pool.spec.runtime == "remote"
            and (metrics := host.pool_metrics(name)).agents < pool.size.min
        }
        ok = leader is None and not missing
        status = Status(ok=ok, leader=leader, missing=missing or None)
        return Response(status, status_code=200 if ok else 503)

    @get(
        "/v1/events",
        summary="Server-Sent Events of every event; `type` filters (`task.*` for a family); "
        "resume with `Last-Event-ID`",
        media_type="text/event-stream",
        responses=documented(400, *GUARDED),
    )
    async def events(
        request: Request[Any, Any, Any], type: FromQuery[list[str] | None] = None
    ) -> Stream:
        await host.authorize(credentials(request), "events.read", "*")
        last = request.headers.get("last-event-id", "").strip()
        after = int(last) if last.isascii() and last.isdigit() and len(last) < 20 else None
        stream = hub.stream(type or (), after)
        return Stream(stream, headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    handlers = [
        health,
        ready,
        events,
        *task_routes(host, config, hub.closed),
        *fleet_routes(host, config),
        *approval_routes(host),
    ]
    return Litestar(
        [
            *_options(handlers),
            *handlers,
            connect_route(host, remote),
            *page_routes(host),
            *api_routes(host),
        ],
        plugins=[AttrsSchemaPlugin()],
        exception_handlers=_errors.HANDLERS,
        request_max_body_size=config.max_body,
        openapi_config=OpenAPIConfig(
            title="alveary",
            version=version,
            path="/",
            render_plugins=[Dashboard(), SwaggerRenderPlugin(path="/docs")],
        ),
        before_send=[security_headers],
        middleware=[guard(is_loopback(split_listen(config.listen)[0]), config.trusted_origins)],
        cors_config=_cors(config.trusted_origins),
        logging_config=None,
    )


def _cors(origins: tuple[str, ...]) -> CORSConfig | None:
    """CORS answers for the pages of ``trusted_origins``: they may send what a client of
    the API sends (bearer tokens and API keys are headers, never cookies) and read
    ``Retry-After``."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["authorization", "content-type", "x-api-key", "last-event-id"],
        expose_headers=["retry-after"],
        allow_credentials=False,
        max_age=600,
    )


def _options(handlers: list[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """``OPTIONS`` for each path that several handlers share, answering every method in
    ``Allow``: Litestar 2's own lists only the first handler's (litestar#4169). Registered
    first, so that Litestar makes none of its own."""
    methods: dict[str, set[str]] = defaultdict(set)
    for handler in handlers:
        for path in handler.paths:
            methods[path] |= handler.http_methods
    return [
        _allow(path, ", ".join(sorted({*found, "OPTIONS"})))
        for path, found in methods.items()
        if len(found) > 1
    ]


def _allow(path: str, allow: str) -> HTTPRouteHandler:
    @route(path, http_method=HttpMethod.OPTIONS, include_in_schema=False, status_code=204)
    async def options() -> Response[None]:
        return Response(None, status_code=204, headers={"allow": allow})

    return options
