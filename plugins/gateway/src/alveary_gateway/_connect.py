"""``/v1/agents/connect``: admit a remote agent. Its credentials are checked before the
socket is accepted, its first frame must be its ``hello``, and it joins the first ``remote``
pool it can serve (or the one ``?pool=`` names), else stands alone with the capabilities its
hello offers.

A refused agent is told why in the close frame: ``4400`` a bad hello, ``4401``
unauthenticated, ``4403`` not allowed, ``4409`` no place for it (a full pool, a config it
does not match); ``1013`` asks it to try again later (a standby replica, a stopping
orchestrator, a security plugin that failed). ``alveary.agent --connect`` gives up on the
44xx codes and retries the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from pathlib import Path
from typing import Any

import alveary
import attrs
import structlog
from alveary import wire
from alveary_subprocess import AgentLog, Connection
from alveary_subprocess.logs import log_name
from litestar import WebSocket, websocket
from litestar.handlers import WebsocketRouteHandler
from litestar.params import FromQuery

from ._access import credentials
from ._config import Remote
from ._remote import LINK, Link, RemoteRuntime, close

log = structlog.get_logger("alveary.gateway")


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
"""What a remote agent may call itself: a name that fits in a URL path and a file name."""


class Refused(Exception):
    """An agent that may not join, with the close code and reason to tell it."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def connect_route(host: alveary.Host, runtime: RemoteRuntime) -> WebsocketRouteHandler:
    """The handler admitting remote agents to ``host`` through ``runtime``."""
    settings = runtime.settings
    admission = asyncio.Lock()  # pool sizes are checked and filled one agent at a time

    @websocket("/v1/agents/connect")
    async def connect(socket: WebSocket[Any, Any, Any], pool: FromQuery[str | None] = None) -> None:
        creds = credentials(socket)
        link: Link | None = None
        try:
            await _admissible(host, creds)
            await socket.accept()
            hello = await _hello(socket, settings)
            link = Link(socket, hello, creds.get("client", "?"))
            async with admission:
                await _join(host, runtime, link, creds, pool)
        except Refused as exc:
            await close(socket, exc.code, str(exc))
            if link is not None:
                link.end(str(exc))
                if link.log is not None:  # opened for an agent that was then refused
                    link.log.close()
            return
        await _serve(runtime, link)

    return connect


async def _admissible(host: alveary.Host, creds: dict[str, str]) -> None:
    """Refuse before reading anything: unknown callers, a standby replica."""
    leader = host.standby
    if leader is not None:
        raise Refused(1013, f"this replica stands by; connect to the leader, {leader}")
    try:
        await host.authorize(creds, "agent.register", "*")
    except alveary.Denied as exc:
        if exc.unavailable:
            raise Refused(1013, str(exc)) from None
        if exc.unauthenticated:
            raise Refused(4401, str(exc)) from None
        # a known caller: checked again by name once its hello names it


async def _hello(socket: WebSocket[Any, Any, Any], settings: Remote) -> wire.Hello:
    """The agent's first frame, which must be a ``hello`` arriving within ``start_timeout``."""
    try:
        event = await asyncio.wait_for(socket.receive(), settings.start_timeout)
    except asyncio.TimeoutError:
        raise Refused(4400, f"no hello within {settings.start_timeout:g} s") from None
    if event["type"] != "websocket.receive":
        raise Refused(1000, "the agent hung up before its hello")
    decoder = wire.Decoder(wire.FROM_AGENT, settings.max_line)
    received = decoder.frame(_data(event))
    message = received[0][1] if received else None
    if isinstance(message, wire.Hello):
        if message.protocol > wire.PROTOCOL:
            raise Refused(
                4400, f"it speaks protocol {message.protocol}; this one speaks {wire.PROTOCOL}"
            )
        return message
    if isinstance(message, wire.Malformed):
        raise Refused(4400, f"its first frame is malformed: {message.reason}")
    raise Refused(4400, "its first frame must be its hello")


async def _join(
    host: alveary.Host,
    runtime: RemoteRuntime,
    link: Link,
    creds: dict[str, str],
    wanted: str | None,
) -> None:
    """Register the agent for ``link``: in its pool, under a free name."""
    hello = link.hello
    pool = _pool_for(host, hello, wanted)
    if hello.name and not NAME.fullmatch(hello.name):
        raise Refused(4400, f"its name {hello.name[:40]!r} is not {NAME.pattern}")
    key = secrets.token_hex(8)
    spec = _spec(host, hello, pool, _free_name(host, hello.name or "remote"), key)
    settings = runtime.settings
    link.log = AgentLog(
        Path(settings.log_dir) / log_name(spec.name), max_bytes=settings.log_max_bytes
    )
    link.conn = _connection(host, link, spec.name, settings)
    link.conn.receive([(1, hello)])
    runtime.waiting[key] = link
    try:
        await host.register(spec, credentials=creds, pool=pool)
    except alveary.Denied as exc:
        code = 1013 if exc.unavailable else 4401 if exc.unauthenticated else 4403
        raise Refused(code, str(exc)) from None
    except (alveary.AlvearyError, ValueError) as exc:
        raise Refused(4409, str(exc)) from None
    finally:
        runtime.waiting.pop(key, None)
    link.log.note(f"connected from {link.peer}: {hello.name or '-'} {hello.version or ''}")


def _pool_for(host: alveary.Host, hello: wire.Hello, wanted: str | None) -> str | None:
    """The remote pool the agent joins: ``wanted``, or the first with room whose
    capabilities its hello offers; None when none is meant for it."""
    remote = {n: p for n, p in host.pools.items() if p.spec.runtime == "remote"}
    if wanted is not None:
        if wanted not in remote:
            raise Refused(4409, f"no remote pool {wanted!r} (remote pools: {_names(remote)})")
        candidates = [wanted]
    else:
        offers = hello.capabilities
        candidates = [
            n for n, p in remote.items() if offers is None or p.spec.capabilities <= offers
        ]
    full = []
    for name in candidates:
        pool = remote[name]
        most = pool.size.max
        if most is None or host.pool_metrics(name).agents < most:
            return name
        full.append(f"{name} ({pool.size.max})")
    if full:
        raise Refused(4409, f"remote pool full: {', '.join(full)}")
    return None


def _spec(
    host: alveary.Host, hello: wire.Hello, pool: str | None, name: str, key: str
) -> alveary.AgentSpec:
    """The agent's spec: its pool's, or what its hello offers when it stands alone."""
    if pool is not None:
        spec = host.pools[pool].spec
        return attrs.evolve(spec, name=name, options={**spec.options, LINK: key})
    if not hello.capabilities:
        raise Refused(
            4409, "its hello offers no capabilities and no remote pool takes it: say them"
        )
    return alveary.AgentSpec(
        name, hello.capabilities, hello.capacity or 1, "remote", options={LINK: key}
    )


def _free_name(host: alveary.Host, name: str) -> str:
    taken = {agent.name for agent in host.agents()}
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


def _connection(host: alveary.Host, link: Link, name: str, settings: Remote) -> Connection:
    def heartbeat(metrics: dict[str, float]) -> None:
        if link.agent is not None:
            with contextlib.suppress(alveary.NotFound):
                host.heartbeat(link.agent.id, **metrics)

    def emit(kind: str, data: dict[str, Any]) -> None:
        agent_id = link.agent.id if link.agent is not None else None
        with contextlib.suppress(alveary.NotFound):
            host.emit(kind, agent_id=agent_id, data=data)

    def broken(reason: str) -> None:
        link.end(reason, 1008)

    assert link.log is not None
    return Connection(
        name,
        link.send,
        link.log,
        on_heartbeat=heartbeat,
        on_broken=broken,
        emit=emit,
        max_bad_lines=settings.max_bad_lines,
        cancel_grace=settings.cancel_grace,
        max_line=settings.max_line,
    )


async def _serve(runtime: RemoteRuntime, link: Link) -> None:
    """Relay the agent's frames until its connection ends; then it is lost."""
    assert link.conn is not None
    assert link.log is not None
    writer = asyncio.ensure_future(link.write())
    reason = "the connection closed"
    try:
        while not link.ended.is_set():
            event = await link.socket.receive()
            if event["type"] != "websocket.receive":
                reason = f"the connection closed (code {event.get('code', 1005)})"
                break
            link.conn.receive(link.conn.decoder.frame(_data(event)))
    except Exception as exc:  # the socket failed under us: the agent is gone all the same
        reason = f"the connection failed: {exc or type(exc).__name__}"
    finally:
        link.end(reason)
        runtime.lost(link)
        await asyncio.gather(writer, return_exceptions=True)
        link.log.close()


def _data(event: Any) -> bytes:
    data = event.get("bytes")
    return data if data is not None else str(event.get("text") or "").encode()


def _names(pools: dict[str, Any]) -> str:
    return ", ".join(sorted(pools)) or "none"
