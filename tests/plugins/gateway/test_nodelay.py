"""The gateway's connections send without Nagle's delay: a keep-alive client otherwise waited
for its own delayed ACK (about 40 ms) on every response, whose head and body uvicorn writes
apart."""

from __future__ import annotations

import socket

from alveary_gateway._server import bind


def test_accepted_connections_have_tcp_nodelay() -> None:
    listener = bind("127.0.0.1", 0)
    listener.setblocking(True)
    with listener, socket.create_connection(listener.getsockname(), timeout=30):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
