"""``/v1/approvals`` and a task's ``approve`` and ``reject``: the commands that wait for a
person because a command guard (``alveary_command_check``) asked for one."""

from __future__ import annotations

from typing import Any

import attrs
from alveary import Approval, Host
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from ._access import credentials
from ._errors import GUARDED, documented


@attrs.frozen
class Rejection:
    """Why a command is rejected; the task's error says it."""

    reason: str = attrs.field(default="", validator=attrs.validators.max_len(1000))


def approval_routes(host: Host) -> list[HTTPRouteHandler]:
    """The approval handlers, bound to the orchestrator they serve."""

    @get(
        "/v1/approvals",
        summary="Commands waiting for someone to approve or reject, oldest first",
        responses=documented(*GUARDED),
    )
    async def approvals(request: Request[Any, Any, Any]) -> list[Approval]:
        await host.authorize(credentials(request), "task.read", "*")
        return host.approvals()

    @post(
        "/v1/tasks/{task_id:str}/approve",
        status_code=200,
        summary="Let the command a task waits on run",
        responses=documented(400, 404, *GUARDED),
    )
    async def approve(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Approval:
        return await host.decide(task_id, True, credentials=credentials(request))

    @post(
        "/v1/tasks/{task_id:str}/reject",
        status_code=200,
        summary="Refuse the command a task waits on: the task fails, without retries",
        responses=documented(400, 404, 422, *GUARDED),
    )
    async def reject(
        request: Request[Any, Any, Any],
        task_id: FromPath[str],
        data: JSONBody[Rejection | None] = None,
    ) -> Approval:
        reason = data.reason if data is not None else ""
        return await host.decide(task_id, False, reason, credentials=credentials(request))

    return [approvals, approve, reject]
