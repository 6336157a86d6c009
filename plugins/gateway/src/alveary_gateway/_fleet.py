"""``/v1/agents`` and ``/v1/pools``: see the fleet, drain or remove an agent, size a pool."""

from __future__ import annotations

from typing import Any

from alveary import Host, PoolSize
from litestar import Request, delete, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody

from ._access import credentials, seconds
from ._config import Config
from ._errors import GUARDED, documented
from ._records import AgentRecord, Drained, PoolRecord, PoolSizeBody


def fleet_routes(host: Host, config: Config) -> list[HTTPRouteHandler]:
    """The agent and pool handlers, bound to the orchestrator they serve."""

    @get("/v1/agents", summary="Every agent", responses=documented(*GUARDED))
    async def agents(request: Request[Any, Any, Any]) -> list[AgentRecord]:
        await host.authorize(credentials(request), "agent.read", "*")
        return [AgentRecord.of(a) for a in host.agents()]

    @get(
        "/v1/agents/{name:str}",
        summary="One agent, by name or id",
        responses=documented(400, 404, *GUARDED),
    )
    async def agent(request: Request[Any, Any, Any], name: FromPath[str]) -> AgentRecord:
        found = await host.find_authorized(
            credentials(request), "agent.read", lambda: host.agent(name), lambda a: a.name
        )
        return AgentRecord.of(found)

    @post(
        "/v1/agents/{name:str}/drain",
        status_code=200,
        summary="Stop giving an agent work; wait up to `timeout` seconds for its tasks",
        responses=documented(400, 404, 422, *GUARDED),
    )
    async def drain(
        request: Request[Any, Any, Any], name: FromPath[str], timeout: FromQuery[float] = 0.0
    ) -> Drained:
        timeout = seconds(timeout, "timeout", config.max_wait)
        done = await host.drain(name, timeout, credentials=credentials(request))
        return Drained(done)

    @delete(
        "/v1/agents/{name:str}",
        summary="Remove an agent; with `drain` its tasks get `timeout` seconds to finish",
        responses=documented(400, 404, 422, *GUARDED),
    )
    async def deregister(
        request: Request[Any, Any, Any],
        name: FromPath[str],
        drain: FromQuery[bool] = True,
        timeout: FromQuery[float] = 0.0,
    ) -> None:
        timeout = seconds(timeout, "timeout", config.max_wait)
        await host.deregister(name, drain=drain, timeout=timeout, credentials=credentials(request))

    @get(
        "/v1/pools",
        summary="Every pool with its size and metrics",
        responses=documented(*GUARDED),
    )
    async def pools(request: Request[Any, Any, Any]) -> list[PoolRecord]:
        await host.authorize(credentials(request), "pool.read", "*")
        return [PoolRecord.of(p, host.pool_metrics(n)) for n, p in host.pools.items()]

    @put(
        "/v1/pools/{name:str}/size",
        summary="Set a pool's min and max",
        responses=documented(400, 404, 413, 422, *GUARDED),
    )
    async def resize(
        request: Request[Any, Any, Any], name: FromPath[str], data: JSONBody[PoolSizeBody]
    ) -> PoolRecord:
        size = PoolSize(data.min, data.max)
        pool = await host.resize(name, size, credentials=credentials(request))
        return PoolRecord.of(pool, host.pool_metrics(name))

    return [agents, agent, drain, deregister, pools, resize]
