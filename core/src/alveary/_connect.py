"""``python -m alveary.agent MODULE:FUNCTION --connect URL``: serve an agent to an
orchestrator on another machine, over a WebSocket to its gateway's ``/v1/agents/connect``.

One protocol message per frame, the same messages as on a subprocess agent's pipes. A
connection that drops (the network, an orchestrator that died) is opened again with an
exponential backoff, and the agent says ``hello`` anew; the jobs it was running are cancelled,
since the orchestrator has already given them to someone else. An orchestrator that stops
hangs up (code 1012) and the agent connects again, to its next run. A ``shutdown`` (the agent
was deregistered or scaled down) ends the agent (exit 0), and so does a refusal that retrying
cannot fix (a close code 44xx, or an HTTP 401, 403 or 404 at the handshake: exit 2). Only this
module imports the WebSocket client, so an agent on pipes does not load it.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from typing import TYPE_CHECKING, Any

from . import wire
from ._serve import Server

if TYPE_CHECKING:
    from .agent import ProtocolAgent

FINAL_STATUS = frozenset({400, 401, 403, 404})
"""HTTP answers to the handshake after which connecting again cannot help."""


class _Frames:
    """The agent's outbox on a WebSocket: ``send`` from any thread queues a frame for the
    event loop's writer; once the connection is gone, frames are dropped."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = False

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, data)

    def close(self) -> None:
        self.closed = True
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)

    async def pump(self, socket: Any) -> None:
        while (data := await self.queue.get()) is not None:
            try:
                await socket.send(data.rstrip(b"\n").decode())
            except Exception:  # the connection is gone: the reader sees it and says why
                self.closed = True
                return


class Refused(Exception):
    """The orchestrator will not take this agent; connecting again cannot help."""


def connect(target: ProtocolAgent, url: str, token: str | None, retry_max: float) -> int:
    """Serve ``target`` to the orchestrator at ``url`` until it says ``shutdown``; the exit
    status."""
    try:
        import websockets  # noqa: F401 - only to say what is missing before anything else
    except ImportError:
        print(
            "alveary.agent: --connect needs the websockets package: pip install 'alveary[remote]'",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("ALVEARY_HEARTBEAT", "5")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return asyncio.run(_serve(target, url, headers, retry_max))
    except Refused as exc:
        print(f"alveary.agent: {url}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _serve(target: ProtocolAgent, url: str, headers: dict[str, str], retry_max: float) -> int:
    from websockets.asyncio.client import connect as open_socket
    from websockets.exceptions import InvalidStatus, InvalidURI, WebSocketException

    delay = 0.5
    while True:
        try:
            async with open_socket(
                url, additional_headers=headers, max_size=wire.MAX_LINE, open_timeout=10
            ) as socket:
                delay = 0.5
                _say(f"connected to {url}")
                if await _session(target, socket):
                    return 0
                reason = _closed(socket.close_code, socket.close_reason)
        except InvalidURI as exc:
            raise Refused(f"not a WebSocket URL ({exc})") from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in FINAL_STATUS:
                raise Refused(f"the server answered HTTP {status}") from None
            reason = f"the server answered HTTP {status}"
        except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
            reason = f"cannot connect: {exc or type(exc).__name__}"
        wait = delay * random.uniform(0.8, 1.2)
        _say(f"{reason}; connecting again in {wait:.1f} s")
        await asyncio.sleep(wait)
        delay = min(delay * 2, retry_max)


async def _session(target: ProtocolAgent, socket: Any) -> bool:
    """Serve one connection; True once the orchestrator said ``shutdown``."""
    from websockets.exceptions import ConnectionClosed

    frames = _Frames(asyncio.get_running_loop())
    server = Server(target, frames)
    writer = asyncio.create_task(frames.pump(socket))
    server.start()
    orderly = False
    try:
        async for message in socket:
            data = message.encode() if isinstance(message, str) else message
            if server.frame(data):
                orderly = True
                break
    except ConnectionClosed:
        pass
    finally:
        if not orderly:
            frames.closed = True  # nobody can read the answers of jobs cut short
        await asyncio.to_thread(server.finish, orderly)
        frames.close()
        await writer
    code = socket.close_code
    if not orderly and code is not None and 4400 <= code < 4500:
        raise Refused(_closed(code, socket.close_reason))
    return orderly


def _closed(code: int | None, reason: str | None) -> str:
    return f"the connection closed (code {code}{': ' + reason if reason else ''})"


def _say(message: str) -> None:
    print(f"alveary.agent: {message}", file=sys.stderr, flush=True)
