"""Running one step: build its payload, submit its task (or one per item, a bounded number
at a time), wait for them, and cancel what is still running when the step is abandoned."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from alveary import AlvearyError, Host, TaskState

from ._definition import Step
from ._refs import INDEX, ITEM, RefError, render


class StepFailed(Exception):
    """The step did not succeed; the message says why, in one line."""

    def __init__(self, message: str, cancelled: bool = False) -> None:
        super().__init__(message)
        self.cancelled = cancelled


class Execution:
    """One run of one step. ``task_ids`` grows as tasks are submitted; ``run()`` returns
    the value or raises ``StepFailed``; cancelling ``run()`` cancels the step's tasks."""

    def __init__(
        self,
        host: Host,
        step: Step,
        key: str,
        scope: Mapping[str, Any],
        credentials: Mapping[str, Any] | None,
        max_items: int,
        submitted: Callable[[], None] = lambda: None,
    ) -> None:
        self.host, self.step, self.key, self.scope = host, step, key, scope
        self.credentials, self.max_items, self._submitted = credentials, max_items, submitted
        self._ids: dict[int, str] = {}
        self._live: set[str] = set()
        self.detached = False
        """Set when the orchestrator stops: the step's tasks are left for the next one."""

    @property
    def task_ids(self) -> tuple[str, ...]:
        """The ids of the tasks submitted so far, in item order."""
        return tuple(self._ids[i] for i in sorted(self._ids))

    async def run(self) -> Any:
        try:
            if self.step.branch_timeout is None:
                return await self._body()
            try:
                return await asyncio.wait_for(self._body(), self.step.branch_timeout)
            except asyncio.TimeoutError:
                raise StepFailed(f"branch timeout of {self.step.branch_timeout:g} s") from None
        finally:
            if not self.detached:
                await self._cancel_live()

    async def _body(self) -> Any:
        if self.step.fan_out is None:
            return await self._one(self._payload(self.scope), 0)
        items = self._items()
        values: list[Any] = [None] * len(items)
        limit = asyncio.Semaphore(self.step.fan_out.limit)

        async def item(index: int, value: Any) -> None:
            async with limit:
                scope = {**self.scope, ITEM: value, INDEX: index}
                values[index] = await self._one(self._payload(scope), index)

        tasks = [asyncio.ensure_future(item(i, v)) for i, v in enumerate(items)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return values

    def _items(self) -> list[Any]:
        assert self.step.fan_out is not None
        ref = self.step.fan_out.ref
        try:
            items = ref.resolve(self.scope)
        except RefError as error:
            raise StepFailed(f"fan_out.over {error}") from None
        if not isinstance(items, (list, tuple)):
            raise StepFailed(
                f"fan_out.over {ref.text}: expected a list, got a {type(items).__name__}"
            )
        if len(items) > self.max_items:
            raise StepFailed(
                f"fan_out.over {ref.text}: {len(items)} items, over the limit of {self.max_items}"
            )
        return list(items)

    def _payload(self, scope: Mapping[str, Any]) -> Any:
        try:
            return render(self.step.payload, scope)
        except RefError as error:
            raise StepFailed(f"payload {error}") from None

    async def _one(self, payload: Any, index: int) -> Any:
        spec = self.step.spec(payload, f"{self.key}:{index}")
        try:
            handle = await self.host.submit(spec, credentials=self.credentials)
        except (AlvearyError, ValueError) as error:
            raise StepFailed(f"not submitted: {error}") from None
        self._ids[index] = handle.id
        self._submitted()
        self._live.add(handle.id)
        outcome = await handle.result()
        self._live.discard(handle.id)
        if outcome.state is TaskState.SUCCEEDED:
            return outcome.value
        reason = f"task {handle.id} {outcome.state.value}"
        raise StepFailed(
            f"{reason}: {outcome.error}" if outcome.error else reason,
            cancelled=outcome.state is TaskState.CANCELLED,
        )

    async def _cancel_live(self) -> None:
        for task_id in sorted(self._live):
            with contextlib.suppress(AlvearyError):  # gone, or not ours: nothing more to do
                await self.host.cancel(task_id, credentials=self.credentials)
        self._live.clear()
