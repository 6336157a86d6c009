"""OpenTelemetry spans of a known workload, read from the SDK's in-memory exporter; and
nothing of OpenTelemetry imported while traces are off."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections import Counter
from typing import Any, ClassVar

import alveary
import pytest
from alveary import AgentSpec, Orchestrator, TaskSpec, TaskState
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from .conftest import metrics_of


class Flaky:
    """``flaky`` fails its first attempt; ``bad`` fails for good; the rest succeed."""

    def __init__(self) -> None:
        self.tries: Counter[str] = Counter()

    async def run(self, task: alveary.Task) -> Any:
        self.tries[task.id] += 1
        if task.kind == "bad":
            raise alveary.PermanentFailure("bad on purpose")
        if task.kind == "flaky" and self.tries[task.id] == 1:
            raise RuntimeError("flaky on purpose")
        return task.payload


def tracing(**traces: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"shutdown_timeout": 0.5},
        "plugins": {
            "enabled": ["metrics"],
            "metrics": {"listen": "127.0.0.1:0", "traces": {"enabled": True, **traces}},
        },
    }


async def test_a_span_per_task_with_its_queue_wait_and_attempts() -> None:
    exported = InMemorySpanExporter()
    async with Orchestrator.from_config(tracing(exporter="none")) as orch:
        tracer = metrics_of(orch).tracer
        assert tracer is not None
        tracer.provider.add_span_processor(SimpleSpanProcessor(exported))
        work = Flaky()
        queued = await orch.submit(TaskSpec("late", requires={"w"}))  # no agent yet
        await orch.register(AgentSpec("w", {"w"}, options={"handler": work.run}))
        assert (await queued.result(timeout=60)).state is TaskState.SUCCEEDED
        ids = {"late": queued.id}
        for kind in ("ok", "bad", "flaky"):
            spec = TaskSpec(kind, requires={"w"}, max_attempts=2)
            handle = await orch.submit(spec)
            ids[kind] = handle.id
            await handle.result(timeout=60)

    spans = exported.get_finished_spans()
    roots = {s.attributes["alveary.task_id"]: s for s in spans if s.parent is None}
    assert set(roots) == set(ids.values())

    def children(root: ReadableSpan) -> list[str]:
        found = [s for s in spans if s.parent is not None]
        mine = [s for s in found if s.parent.span_id == root.context.span_id]
        assert all(s.context.trace_id == root.context.trace_id for s in mine)
        assert all(root.start_time <= s.start_time <= s.end_time <= root.end_time for s in mine)
        return [s.name for s in sorted(mine, key=lambda s: s.start_time)]

    late, ok, bad, flaky = (roots[ids[k]] for k in ("late", "ok", "bad", "flaky"))
    assert late.name == "task late"
    assert children(late) == ["queue", "attempt 1"]
    assert children(ok) == ["attempt 1"]
    assert children(bad) == ["attempt 1"]
    assert children(flaky) == ["attempt 1", "attempt 2"]
    assert ok.attributes["alveary.state"] == "succeeded"
    assert ok.status.status_code is StatusCode.UNSET
    assert bad.attributes["alveary.state"] == "failed"
    assert bad.status.status_code is StatusCode.ERROR
    assert "bad on purpose" in (bad.status.description or "")
    attempts = [s for s in spans if s.name.startswith("attempt") and s.parent == flaky.context]
    first = min(attempts, key=lambda s: s.start_time)
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["alveary.attempt"] == 1
    assert flaky.resource.attributes["service.name"] == "alveary"


@pytest.mark.parametrize(
    ("traces", "expected"),
    [
        ({"exporter": "jaeger"}, "traces.exporter: expected 'otlp' or 'none'"),
        ({"endpoint": "$(id)"}, "traces.endpoint: expected an http:// or https:// URL"),
        ({"endpoint": "-x"}, "traces.endpoint: expected an http:// or https:// URL"),
        ({"service_name": " "}, "traces.service_name: expected a non-empty name"),
    ],
)
def test_bad_trace_settings_are_one_line(traces: dict[str, Any], expected: str) -> None:
    with pytest.raises((alveary.ConfigError, alveary.PluginError)) as info:
        Orchestrator.from_config(tracing(**traces))
    message = str(info.value)
    assert f"plugins.metrics.{expected}" in message, message
    assert "\n" not in message


def test_with_traces_off_nothing_of_opentelemetry_is_imported() -> None:
    code = (
        "import sys, asyncio\n"
        "from alveary import Orchestrator\n"
        "import alveary_metrics\n"
        "async def main():\n"
        "    config = {'plugins': {'enabled': ['metrics'],\n"
        "              'metrics': {'listen': '127.0.0.1:0', 'traces': {'enabled': False}}}}\n"
        "    async with Orchestrator.from_config(config):\n"
        "        pass\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


class Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP collector on loopback: keeps each request's path and body."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_spans_reach_an_otlp_collector_at_the_endpoint() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/custom/traces"
        async with Orchestrator.from_config(tracing(endpoint=endpoint)) as orch:
            await orch.register(AgentSpec("w", {"w"}, options={"handler": Flaky().run}))
            await (await orch.submit(TaskSpec("ok", requires={"w"}))).result(timeout=60)
        # the spans are flushed when the orchestrator stops
    finally:
        server.shutdown()
        thread.join(timeout=30)
        server.server_close()
    paths = {path for path, _ in Collector.received}
    assert paths == {"/custom/traces"}
    names = []
    for _, body in Collector.received:
        request = ExportTraceServiceRequest.FromString(body)
        names += [s.name for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert sorted(names) == ["attempt 1", "task ok"]
