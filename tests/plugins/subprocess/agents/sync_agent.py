"""A plain (synchronous) handler, served with ``python -m alveary.agent sync_agent:handle``."""

from __future__ import annotations

import hashlib

from alveary.agent import Job


def handle(job: Job) -> str:
    return hashlib.sha256(str(job.payload).encode()).hexdigest()
