"""``/v1/tasks``: submit, read, wait for, cancel, re-queue and list tasks."""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Annotated, Any

import attrs
from alveary import Host, Task, TaskSpec, TaskState
from litestar import Request, Response, delete, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from ._access import MAX_DEPTH, credentials, seconds, too_deep
from ._config import Config
from ._errors import GUARDED, ApiError, documented
from ._records import Cancelled, SubmitTask, TaskPage, TaskRecord

_FIELDS = frozenset(attrs.fields_dict(SubmitTask))
_STATES = {s.value: s for s in TaskState}


def task_routes(host: Host, config: Config, closed: asyncio.Future[None]) -> list[HTTPRouteHandler]:
    """The task handlers, bound to the orchestrator they serve; a long poll ends with a 503
    when ``closed`` is done (the server is stopping)."""

    @post(
        "/v1/tasks",
        status_code=202,
        summary="Submit a task",
        responses=documented(400, 413, 422, *GUARDED),
    )
    async def submit(
        request: Request[Any, Any, Any], data: JSONBody[SubmitTask]
    ) -> Response[TaskRecord]:
        body = await request.json()
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise ApiError(422, "invalid", f"unknown field {unknown[0]!r}", unknown[0])
        if too_deep(data.payload, MAX_DEPTH):
            raise ApiError(400, "bad_request", f"payload nested deeper than {MAX_DEPTH} levels")
        spec = TaskSpec(
            data.kind,
            data.payload,
            requires=frozenset(data.requires),
            priority=data.priority,
            timeout=data.timeout,
            max_attempts=data.max_attempts,
            queue_timeout=data.queue_timeout,
            idempotency_key=data.idempotency_key,
            affinity_key=data.affinity_key,
            labels=data.labels,
        )
        handle = await host.submit(spec, credentials=credentials(request))
        location = {"location": f"/v1/tasks/{handle.id}"}
        return Response(TaskRecord.of(handle.task, host), status_code=202, headers=location)

    @get(
        "/v1/tasks/{task_id:str}",
        summary="A task's record",
        responses=documented(400, 404, *GUARDED),
    )
    async def read(request: Request[Any, Any, Any], task_id: FromPath[str]) -> TaskRecord:
        return TaskRecord.of(await _readable(host, request, task_id), host)

    @get(
        "/v1/tasks/{task_id:str}/result",
        summary="Wait for a task: 200 once terminal, 202 if `wait` seconds passed first",
        responses={
            202: ResponseSpec(TaskRecord, description="`wait` seconds passed first"),
            **documented(400, 404, 422, *GUARDED),
        },
    )
    async def result(
        request: Request[Any, Any, Any], task_id: FromPath[str], wait: FromQuery[float] = 0.0
    ) -> Response[TaskRecord]:
        wait = seconds(wait, "wait", config.max_wait)
        task = await _readable(host, request, task_id)
        if not task.state.terminal and wait > 0:
            waiting = asyncio.ensure_future(host.task(task_id).result(wait))
            either: set[asyncio.Future[Any]] = {waiting, closed}
            try:
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()  # the server closed first, or this request was
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                if waiting.done():
                    waiting.result()  # the wait ran out, or the task ended
            if closed.done() and not task.state.terminal:  # else a stop that ended it
                raise ApiError(503, "unavailable", "the orchestrator is stopping")
        return Response(TaskRecord.of(task, host), status_code=200 if task.state.terminal else 202)

    @delete(
        "/v1/tasks/{task_id:str}",
        status_code=200,
        summary="Cancel a task",
        responses=documented(400, 404, *GUARDED),
    )
    async def cancel(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Cancelled:
        done = await host.cancel(task_id, credentials=credentials(request))
        return Cancelled(done, TaskRecord.of(host.get_task(task_id), host))

    @post(
        "/v1/tasks/{task_id:str}/requeue",
        status_code=202,
        summary="Run a dead or failed task again",
        responses=documented(400, 404, 409, *GUARDED),
    )
    async def requeue(request: Request[Any, Any, Any], task_id: FromPath[str]) -> TaskRecord:
        handle = await host.requeue(task_id, credentials=credentials(request))
        return TaskRecord.of(handle.task, host)

    @get(
        "/v1/tasks",
        summary="Tasks, oldest first, a page at a time",
        responses=documented(400, 422, *GUARDED),
    )
    async def listing(
        request: Request[Any, Any, Any],
        task_state: Annotated[str | None, QueryParameter(name="state")] = None,
        kind: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> TaskPage:
        await host.authorize(credentials(request), "task.read", kind or "*")
        state = task_state  # ``state`` is a name Litestar reserves for the app's state
        if state is not None and state not in _STATES:
            raise ApiError(422, "invalid", f"expected one of {', '.join(_STATES)}", "state")
        if not 1 <= limit <= 1000:
            raise ApiError(422, "invalid", f"expected 1 to 1000, got {limit}", "limit")
        after = _cursor(cursor) if cursor is not None else None
        found = [
            t
            for t in host.tasks(_STATES[state] if state is not None else None)
            if (kind is None or t.spec.kind == kind) and (after is None or _key(t) > after)
        ]
        found.sort(key=_key)
        page = found[:limit]
        more = len(found) > limit
        next_cursor = f"{page[-1].submitted!r}:{page[-1].id}" if more else None
        return TaskPage([TaskRecord.of(t, host) for t in page], next_cursor)

    return [submit, read, result, cancel, requeue, listing]


async def _readable(host: Host, request: Request[Any, Any, Any], task_id: FromPath[str]) -> Task:
    """The task, once the caller may read it (``task.read`` on its kind)."""
    return await host.find_authorized(
        credentials(request), "task.read", lambda: host.get_task(task_id), _kind
    )


def _kind(task: Task) -> str:
    return task.spec.kind


def _key(task: Task) -> tuple[float, str]:
    return task.submitted, task.id


def _cursor(cursor: str) -> tuple[float, str]:
    """A page cursor back into its sort key; 422 if it was not one we made."""
    submitted, sep, task_id = cursor.partition(":")
    try:
        when = float(submitted)
    except ValueError:
        when = math.nan
    if not sep or not task_id or not math.isfinite(when):
        raise ApiError(422, "invalid", f"not a cursor from this API: {cursor!r}", "cursor")
    return when, task_id
