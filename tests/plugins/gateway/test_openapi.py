"""The live server against its own OpenAPI document: schemathesis generates requests for every
operation from ``/openapi.json`` (valid and invalid ones) and checks each answer: never a 5xx,
only documented status codes and content types, every body as its schema says. The routes
that alveary-workflows and alveary-metrics serve through the gateway are among them.

The server runs in a thread with its own event loop, since schemathesis calls it
synchronously. ``/v1/events`` is left out: a stream that goes on until the client leaves has
no response to check; ``test_events.py`` covers it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import schemathesis
from alveary import AgentSpec, Orchestrator
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import boom, config, echo, gateway_of, hang, pool

EXAMPLES = 25
"""Requests per operation and mode: enough to reach every documented answer of each."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


class LiveServer:
    """An orchestrator with the gateway and a few agents, serving from a thread of its own."""

    def __init__(self) -> None:
        self.url = ""
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="gateway-under-test")

    def __enter__(self) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(60):
            raise TimeoutError("the orchestrator did not start within 60 s")
        if self._failed is not None:
            raise self._failed
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._failed = exc
            self._ready.set()

    async def _serve(self) -> None:
        settings = config(max_body=4096)
        # Two plugins that serve API routes through the gateway, fuzzed with its own.
        settings["plugins"]["enabled"] += ["workflows", "metrics"]
        settings["plugins"]["metrics"] = {"slo": {"availability": 0.99}}
        orch = Orchestrator.from_config({**settings, "pools": [pool()]})
        async with orch:
            for spec in (
                AgentSpec("echoer", {"echo"}, capacity=8, options={"handler": echo}),
                AgentSpec("hanger", {"hang"}, options={"handler": hang}),
                AgentSpec("breaker", {"boom"}, options={"handler": boom}),
            ):
                await orch.register(spec)
            self.url = gateway_of(orch).url
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            await self._stop.wait()
        server = gateway_of(orch).server
        assert server is not None
        await server.closed


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with LiveServer() as server:
        yield server


@pytest.fixture(scope="module")
def operations(live: LiveServer) -> list[APIOperation]:
    """Every operation the live document lists, but the event stream."""
    api = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    found = [result.ok() for result in api.get_all_operations()]
    return [operation for operation in found if operation.path != "/v1/events"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_its_openapi_document_says(
    operations: list[APIOperation], mode: GenerationMode
) -> None:
    # All the document lists but the stream (a new one is here too), the last three offered
    # by alveary-workflows and alveary-metrics.
    assert len(operations) == 20
    assert {"/v1/workflows", "/v1/workflows/{run_id}", "/v1/metrics/slo"} <= {
        operation.path for operation in operations
    }
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not _takes_input(operation):
            continue  # no query or body to get wrong (a path segment is always a string)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case: Case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=30)

        answers_as_documented()


def _takes_input(operation: APIOperation) -> bool:
    return bool(operation.query or operation.body)
