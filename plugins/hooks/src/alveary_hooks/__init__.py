"""alveary-hooks: operators' commands and webhooks on what happens in an orchestrator.

Shell hooks run a program when events they are bound to happen: in the background (never
slowing dispatch), or blocking the attempt at ``task.before``/``task.after`` (``critical``:
their failure fails it). Quality gates run after an attempt succeeds and fail it when a
required one fails. Webhooks POST events as signed JSON, with retries, batching and sampling.
"""

from __future__ import annotations

from ._config import Command, Config, Gate, Webhook
from ._plugin import Hooks
from ._webhooks import SIGNATURE, sign

__all__ = ["SIGNATURE", "Command", "Config", "Gate", "Hooks", "Webhook", "sign"]
