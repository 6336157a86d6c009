"""Helpers for testing plugins, agents and components against a real orchestrator, like
``structlog.testing``: no mocks, just a small in-process setup.

- ``orchestrator(config, *plugins)`` starts one with a fast tick; ``echo`` is a handler.
- ``until(predicate)`` waits for a condition; ``EventRecorder`` keeps events and can wait
  for one; ``alive(pid)`` says whether a process still runs.
- ``ManualClock`` is a clock the test moves: ``Orchestrator(config, clock=clock)``.
- ``OneToken(token)`` is a security plugin that lets in only the bearer of that token.
- ``FakeRuntime`` provides agents whose behaviour a test scripts: ``succeed``, ``fail``,
  ``raises``, ``hang``, ``slow``.
- ``alveary.testing.contracts`` holds the suites a runtime, store or strategy subclasses to
  prove it honours its protocol (it needs pytest).
"""

from __future__ import annotations

from ._clock import ManualClock
from ._fake import Act, FakeRuntime, fail, hang, raises, slow, succeed
from ._orchestrator import echo, orchestrator
from ._processes import alive
from ._token import OneToken
from ._wait import EventRecorder, until

__all__ = [
    "Act",
    "EventRecorder",
    "FakeRuntime",
    "ManualClock",
    "OneToken",
    "alive",
    "echo",
    "fail",
    "hang",
    "orchestrator",
    "raises",
    "slow",
    "succeed",
    "until",
]
