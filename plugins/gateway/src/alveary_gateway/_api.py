"""API routes other plugins serve through the gateway (``/v1/workflows`` of
alveary-workflows, ``/v1/metrics/slo`` of alveary-metrics).

A plugin offers them with a ``gateway_api`` attribute: a sequence of objects with ``method``
(``GET``, ``POST`` or ``DELETE``), ``path`` under ``/v1/<plugin name>`` (``{name}`` segments
are path parameters) and ``async handle(credentials, params, body) -> (status, json)``; and
optionally ``status``, the status of a success (200 unless it says). The handler authorizes
what it does with the credentials; its errors are answered like the gateway's own
(``NotFound`` 404, ``Denied`` 401/403, ``ValueError`` 422). Neither side imports the other.

Each route is in the OpenAPI document under its plugin's tag, described by the first
paragraph of the endpoint's docstring, with the error answers the gateway may give for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from alveary import Host
from litestar import HttpMethod, Request, Response, route
from litestar.exceptions import SerializationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec

from ._access import MAX_DEPTH, credentials, too_deep
from ._errors import GUARDED, ApiError, documented

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Endpoint(Protocol):
    """What a plugin lists in ``gateway_api``."""

    method: str
    path: str

    async def handle(
        self, credentials: Mapping[str, str], params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]: ...


def api_routes(host: Host) -> list[HTTPRouteHandler]:
    """A route for each endpoint the plugins offer; raises ``ValueError`` for one the gateway
    cannot serve (a path outside ``/v1/<plugin>``, a method it does not route)."""
    routes = []
    for name, plugin in host.plugins.items():
        endpoints: Sequence[Endpoint] = getattr(plugin, "gateway_api", None) or ()
        for endpoint in endpoints:
            path, method = endpoint.path, endpoint.method.upper()
            if path != f"/v1/{name}" and not path.startswith(f"/v1/{name}/"):
                raise ValueError(f"plugin {name!r} offers an API at {path!r}, a path not its own")
            if method not in ("GET", "POST", "DELETE"):
                raise ValueError(f"plugin {name!r}: {path!r} has an unknown method {method!r}")
            status = getattr(endpoint, "status", 200)
            if isinstance(status, bool) or not isinstance(status, int) or status // 100 != 2:
                raise ValueError(
                    f"plugin {name!r}: {path!r} has a status that is no 2xx: {status!r}"
                )
            routes.append(_route(name, method, path, status, endpoint))
    return routes


def _route(
    plugin: str, method: str, path: str, status: int, endpoint: Endpoint
) -> HTTPRouteHandler:
    about = (type(endpoint).__doc__ or "").split("\n\n")[0]
    errors = (400, 404, 413, 422) if method == "POST" else (400, 404, 422)
    success = ResponseSpec(
        Any, description=f"What plugin {plugin!r} answers (JSON)", generate_examples=False
    )

    @route(
        _PARAM.sub(r"{\1:str}", path),
        http_method=[HttpMethod(method)],
        name=f"{plugin}:{method}:{path}",
        status_code=status,
        summary=f"{method} {path} (plugin {plugin!r})",
        description=" ".join(about.split()) or None,
        tags=[plugin],
        responses={status: success, **documented(*errors, *GUARDED)},
    )
    async def serve(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            body = await request.json() if method == "POST" else None
        except SerializationException as exc:
            raise ApiError(400, "bad_request", f"malformed JSON: {exc.detail}") from None
        if too_deep(body, MAX_DEPTH):
            raise ApiError(400, "bad_request", f"body nested deeper than {MAX_DEPTH} levels")
        params = {key: str(value) for key, value in request.path_params.items()}
        status, answer = await endpoint.handle(credentials(request), params, body)
        return Response(answer, status_code=status)

    return serve
