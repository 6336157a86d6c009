"""Runs in the store, so a run goes on after a restart from the steps it finished.

Under the ``workflows`` namespace: ``runs`` lists the unfinished run ids and ``finished`` the
finished ones, oldest first (at most ``keep``: older ones are deleted); ``<run>`` holds the
definition and state; ``<run>/<step>`` each step's state, value, error and task ids, written
when the step changes. Tasks carry an idempotency key per step and item, so a step that was
running when the orchestrator stopped reattaches to its tasks instead of submitting again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alveary import Store

from ._definition import Workflow
from ._parse import dump, parse
from ._records import RunState, StepResult, StepState

NAMESPACE = "workflows"
RUNS = "runs"
FINISHED = "finished"


class StoreJournal:
    """Writes runs to the orchestrator's store (a memory store keeps them for the process)."""

    def __init__(self, store: Store, keep: int, forget: Callable[[str], object]) -> None:
        self.store = store
        self.keep = keep
        self._forgotten = forget
        """Called with each run id forgotten, to drop it from memory too."""
        self._definitions: dict[str, Any] = {}
        """Each followed run's saved definition, dumped once (a large one costs to dump)."""

    def begin(self, run_id: str, workflow: Workflow) -> None:
        self._definitions[run_id] = definition = dump(workflow)
        self.store.put_value(NAMESPACE, run_id, {"workflow": definition, "state": "running"})
        self.store.put_value(NAMESPACE, RUNS, [*self.unfinished(), run_id])

    def step(self, run_id: str, name: str, result: StepResult) -> None:
        record = {
            "state": result.state.value,
            "value": result.value,
            "error": result.error,
            "task_ids": list(result.task_ids),
        }
        self.store.put_value(NAMESPACE, f"{run_id}/{name}", record)

    def finished(self, run: Any) -> None:
        """Save that ``run`` ended, and forget the oldest finished runs past ``keep``."""
        definition = self._definitions.pop(run.id, None) or dump(run.workflow)
        record = {"workflow": definition, "state": run.state.value}
        self.store.put_value(NAMESPACE, run.id, record)
        self.store.put_value(NAMESPACE, RUNS, [i for i in self.unfinished() if i != run.id])
        kept = [*self._ids(FINISHED), run.id]
        forgotten, kept = kept[: -self.keep], kept[-self.keep :]
        for old in forgotten:
            self._forget(old)
            self._forgotten(old)
        self.store.put_value(NAMESPACE, FINISHED, kept)

    def _forget(self, run_id: str) -> None:
        record = self.store.get_value(NAMESPACE, run_id)
        steps = record.get("workflow", {}).get("steps", []) if isinstance(record, dict) else []
        for step in steps:
            self.store.put_value(NAMESPACE, f"{run_id}/{step.get('name')}", None)
        self.store.put_value(NAMESPACE, run_id, None)

    def _ids(self, key: str) -> list[str]:
        ids = self.store.get_value(NAMESPACE, key)
        return [str(i) for i in ids] if isinstance(ids, list) else []

    def unfinished(self) -> list[str]:
        return self._ids(RUNS)

    def load(self, run_id: str) -> tuple[Workflow, RunState, dict[str, StepResult]] | None:
        """A saved run: its workflow, state and the steps it finished (a step that was
        running comes back pending, to reattach to its tasks). None if nothing is saved."""
        record = self.store.get_value(NAMESPACE, run_id)
        if not isinstance(record, dict):
            return None
        workflow = parse(record["workflow"])
        self._definitions[run_id] = record["workflow"]
        steps = {}
        for name in workflow.order:
            saved = self.store.get_value(NAMESPACE, f"{run_id}/{name}")
            if isinstance(saved, dict) and StepState(saved["state"]).terminal:
                steps[name] = StepResult(
                    StepState(saved["state"]),
                    saved.get("value"),
                    saved.get("error"),
                    tuple(saved.get("task_ids") or ()),
                )
        return workflow, RunState(record["state"]), steps
