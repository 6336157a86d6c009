"""OpenTelemetry spans of each task, made from its events: a span of the task from its
submission to its end, with a child for each wait in the queue and for each attempt.

Imported only when ``[plugins.metrics.traces] enabled = true``: nothing of OpenTelemetry is
loaded otherwise. The spans are timed by the events' times (the orchestrator's clock) and go
to a tracer provider of this plugin's own, never the process-wide one.
"""

from __future__ import annotations

from alveary import Event, Host, NotFound
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from ._config import Traces

FINAL = {"task.succeeded", "task.failed", "task.cancelled", "task.dead"}


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class Open:
    """The spans of a task not ended yet: the task's, and the queue wait or attempt open."""

    __slots__ = ("attempt", "queue", "task")

    def __init__(self, task: Span) -> None:
        self.task = task
        self.queue: Span | None = None
        self.attempt: Span | None = None


class Tracer:
    """Turns task events into spans; ``provider`` takes more span processors."""

    def __init__(self, config: Traces) -> None:
        resource = Resource.create({"service.name": config.service_name})
        self.provider = TracerProvider(resource=resource)
        """This plugin's provider: add a span processor to send the spans elsewhere too."""
        if config.exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=config.endpoint)
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self.provider.get_tracer("alveary.metrics")
        self._open: dict[str, Open] = {}
        self.host: Host | None = None
        """The orchestrator, once started: it names each task's kind."""

    def event(self, event: Event) -> None:
        """Open or close the spans ``event`` starts or ends."""
        task_id, kind = event.task_id, event.type
        if task_id is None or not kind.startswith("task."):
            return
        at = _ns(event.time)
        found = self._open.get(task_id)
        if found is None:
            if kind != "task.pending" or self.host is None:
                return
            try:
                name = self.host.get_task(task_id).spec.kind
            except NotFound:
                return
            attributes = {"alveary.task_id": task_id, "alveary.kind": name}
            span = self._tracer.start_span(f"task {name}", start_time=at, attributes=attributes)
            self._open[task_id] = found = Open(span)
        if kind == "task.queued":
            context = trace.set_span_in_context(found.task)
            found.queue = self._tracer.start_span("queue", context=context, start_time=at)
        elif kind == "task.assigned":
            self._close_queue(found, at)
            context = trace.set_span_in_context(found.task)
            attempt = int(event.data.get("attempt", 0))
            labels: dict[str, AttributeValue] = {
                "alveary.attempt": attempt,
                "alveary.agent_id": str(event.agent_id),
            }
            found.attempt = self._tracer.start_span(
                f"attempt {attempt}", context=context, start_time=at, attributes=labels
            )
        elif kind == "task.pending":
            self._close_queue(found, at)
            self._close_attempt(found, event, at)
        elif kind in FINAL:
            del self._open[task_id]
            self._close_queue(found, at)
            self._close_attempt(found, event, at)
            state = kind.removeprefix("task.")
            found.task.set_attribute("alveary.state", state)
            if state != "succeeded":
                found.task.set_status(Status(StatusCode.ERROR, str(event.data.get("error", state))))
            found.task.end(end_time=at)

    @staticmethod
    def _close_queue(found: Open, at: int) -> None:
        if found.queue is not None:
            found.queue.end(end_time=at)
            found.queue = None

    @staticmethod
    def _close_attempt(found: Open, event: Event, at: int) -> None:
        attempt = found.attempt
        if attempt is None:
            return
        error = event.data.get("error")
        if error is not None:
            attempt.set_status(Status(StatusCode.ERROR, str(error)))
        attempt.end(end_time=at)
        found.attempt = None

    def shutdown(self) -> None:
        """End the spans still open and flush the exporters."""
        for found in self._open.values():
            found.task.end()
        self._open.clear()
        self.provider.shutdown()
