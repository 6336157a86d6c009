"""The embedded agents' handler: it simulates work of the duration a task asks for.

A plan's mix gives each kind a ``work`` duration; it travels in the payload, so the same
handler stands in for any kind. Name it in a pool as ``alveary_loadtest.agents:work``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alveary import Task


async def work(task: Task) -> Any:
    """Sleep ``payload["work"]`` seconds (0 when absent), then return the payload: an agent
    waiting on a model or a tool, without spending the CPU the orchestrator is measured on."""
    payload = task.payload
    seconds = payload.get("work", 0.0) if isinstance(payload, dict) else 0.0
    await asyncio.sleep(float(seconds))
    return payload
