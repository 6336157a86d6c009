"""``/v1/workflows`` on the gateway (its ``gateway_api`` extension): start a run from the
same shape as the TOML file, and read a run. Nothing here imports the gateway."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._definition import WorkflowError
from ._parse import parse
from ._records import RunResult

if TYPE_CHECKING:
    from ._plugin import Workflows


def record(result: RunResult) -> dict[str, Any]:
    """A run as JSON: ``id``, ``workflow``, ``state`` and each step's fields."""
    return {
        "id": result.id,
        "workflow": result.workflow,
        "state": result.state.value,
        "steps": {
            name: {
                **attrs.asdict(step, recurse=False),
                "state": step.state.value,
                "task_ids": list(step.task_ids),
            }
            for name, step in result.steps.items()
        },
    }


@attrs.frozen
class StartRun:
    """``POST /v1/workflows``: start a run of the workflow in the body (the TOML file's shape);
    202 with the run's record."""

    plugin: Workflows
    method = "POST"
    path = "/v1/workflows"
    status = 202

    async def handle(
        self, credentials: Mapping[str, str], params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        try:
            workflow = parse(body)
        except WorkflowError as error:
            raise ValueError("; ".join(error.lines)) from None
        run = await self.plugin.start(workflow, credentials=credentials)
        return 202, record(run.snapshot())


@attrs.frozen
class ReadRun:
    """``GET /v1/workflows/{run_id}``: the run's record (``task.read`` on ``*``)."""

    plugin: Workflows
    method = "GET"
    path = "/v1/workflows/{run_id}"

    async def handle(
        self, credentials: Mapping[str, str], params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        await self.plugin.host.authorize(credentials, "task.read", "*")
        return 200, record(self.plugin.snapshot(params["run_id"]))
