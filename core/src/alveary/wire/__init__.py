"""The agent protocol on the wire (``docs/agent-protocol.md``): its messages, their encoding,
and a ``Decoder`` that turns the bytes of any transport into messages, for both ends.

Standard library only, and imports nothing else of alveary, so that an agent process that
uses it stays light. A runtime (pipes, FIFOs, a socket, WebSocket frames) feeds a decoder
what arrives and acts on the messages; an agent does the same with what the orchestrator
sends. Whatever the peer sends, a decoder holds at most ``max_line`` bytes, a few message
type names and a few metric keys: one peer cannot grow the other's memory without limit.
"""

from __future__ import annotations

from ._decoder import MAX_METRICS, MAX_NAME, MAX_TEXT, MAX_UNKNOWN_TYPES, Decoder
from ._messages import (
    FROM_AGENT,
    MAX_LINE,
    PROTOCOL,
    TO_AGENT,
    Cancel,
    Error,
    Heartbeat,
    Hello,
    Log,
    Malformed,
    Message,
    Received,
    Result,
    Shutdown,
    Task,
    Unknown,
    encode,
)

__all__ = [
    "FROM_AGENT",
    "MAX_LINE",
    "MAX_METRICS",
    "MAX_NAME",
    "MAX_TEXT",
    "MAX_UNKNOWN_TYPES",
    "PROTOCOL",
    "TO_AGENT",
    "Cancel",
    "Decoder",
    "Error",
    "Heartbeat",
    "Hello",
    "Log",
    "Malformed",
    "Message",
    "Received",
    "Result",
    "Shutdown",
    "Task",
    "Unknown",
    "encode",
]
