"""The ``workflows`` plugin: starts runs, keeps them by id, resumes unfinished ones after a
restart, and keeps a step that names a pool on that pool's agents."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from alveary import Agent, Host, NotFound, Task, TaskState, hookimpl

from . import _config
from ._definition import POOL_LABEL, Workflow, WorkflowError
from ._persist import StoreJournal
from ._records import RunResult, StepResult
from ._routes import ReadRun, StartRun
from ._run import Run


class Workflows:
    """Starts workflow runs on the orchestrator it is loaded in: ``orch.plugins["workflows"]``."""

    Config = _config.Config

    def __init__(self, config: _config.Config | None = None) -> None:
        self.config = config or _config.Config()
        self.runs: dict[str, Run] = {}
        self._host: Host | None = None
        self._journal: StoreJournal | None = None
        self._resumed = False
        self.gateway_api = (StartRun(self), ReadRun(self))
        """The routes the gateway serves for this plugin when it is enabled."""

    @property
    def journal(self) -> StoreJournal:
        if self._journal is None:
            raise RuntimeError("the workflows plugin runs only in a started orchestrator")
        return self._journal

    @property
    def host(self) -> Host:
        if self._host is None:
            raise RuntimeError("the workflows plugin runs only in a started orchestrator")
        return self._host

    @hookimpl
    def alveary_startup(self, orchestrator: Host) -> None:
        self._host = orchestrator
        self._journal = StoreJournal(
            orchestrator.store, self.config.keep, lambda run_id: self.runs.pop(run_id, None)
        )

    @hookimpl
    async def alveary_tick(self, orchestrator: Host) -> None:
        if not self._resumed:  # the first tick: the orchestrator takes work now
            self._resumed = True
            if self.config.resume and orchestrator.store.durable:
                await self.resume()

    @hookimpl
    async def alveary_shutdown(self) -> None:
        for run in self.runs.values():
            run.detach()

    @hookimpl
    def alveary_route_filter(
        self, task: Task, candidates: Sequence[Agent]
    ) -> Sequence[Agent] | None:
        pool = task.spec.labels.get(POOL_LABEL)
        if pool is None:
            return None
        return [agent for agent in candidates if agent.pool == pool]

    async def start(
        self, workflow: Workflow, *, credentials: Mapping[str, Any] | None = None
    ) -> Run:
        """Start a run of ``workflow``; its steps are submitted with ``credentials``, so
        the security plugins judge each one, and checked up front: ``Denied`` if they may
        not submit every step's kind. Raises ``WorkflowError`` for a step naming a pool the
        orchestrator does not declare."""
        host = self.host
        for kind in sorted({step.kind for step in workflow.steps}):
            await host.authorize(credentials, "task.submit", kind)
        unknown = sorted({s.pool for s in workflow.steps if s.pool} - set(host.pools))
        if unknown:
            raise WorkflowError([f"pool {name!r} is not declared" for name in unknown])
        run_id = uuid.uuid4().hex
        self.journal.begin(run_id, workflow)
        return self._begin(run_id, workflow, credentials, {})

    def get(self, run_id: str) -> Run:
        """The run with this id (started or resumed by this orchestrator); raises ``NotFound``."""
        try:
            return self.runs[run_id]
        except KeyError:
            raise NotFound(f"no workflow run {run_id!r}") from None

    def snapshot(self, run_id: str) -> RunResult:
        """The run with this id now: one this orchestrator follows, or a finished one it
        kept in the store (one that ended before a restart); raises ``NotFound``."""
        run = self.runs.get(run_id)
        if run is not None:
            return run.snapshot()
        saved = self.journal.load(run_id)
        if saved is None or not saved[1].terminal:
            raise NotFound(f"no workflow run {run_id!r}")
        workflow, state, steps = saved
        every = {name: steps.get(name, StepResult()) for name in workflow.order}
        return RunResult(run_id, workflow.name, state, every)

    async def resume(self, *, credentials: Mapping[str, Any] | None = None) -> list[Run]:
        """Go on with the unfinished runs saved in the store, from their finished steps."""
        resumed = []
        for run_id in self.journal.unfinished():
            saved = self.journal.load(run_id) if run_id not in self.runs else None
            if saved is not None:
                workflow, _, steps = saved
                resumed.append(self._begin(run_id, workflow, credentials, steps))
        return resumed

    def durations(self) -> dict[str, float]:
        """The median running time of each task kind, over the succeeded tasks the store
        retains: what ``estimated_start`` is computed from."""
        by_kind: dict[str, list[float]] = {}
        for task in self.host.tasks(TaskState.SUCCEEDED):
            began, ended = task.times.get("running"), task.times.get("succeeded")
            if began is not None and ended is not None:
                by_kind.setdefault(task.spec.kind, []).append(ended - began)
        return {kind: statistics.median(times) for kind, times in by_kind.items()}

    def _begin(
        self,
        run_id: str,
        workflow: Workflow,
        credentials: Mapping[str, Any] | None,
        steps: Mapping[str, Any],
    ) -> Run:
        host = self.host
        durations = self.durations()
        default = statistics.median(durations.values()) if durations else 0.0
        now = host.now()
        offsets = workflow.estimate(durations, default)
        run = Run(
            host,
            run_id,
            workflow,
            credentials=credentials,
            journal=self.journal,
            max_items=self.config.max_items,
            steps=steps,
            estimates={name: now + offset for name, offset in offsets.items()},
        )
        self.runs[run_id] = run
        run.start()
        return run
