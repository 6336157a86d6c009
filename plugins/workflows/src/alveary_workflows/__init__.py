"""alveary-workflows: DAGs of tasks declared in Python or TOML. Each step is a task
template whose payload may reference earlier results (``"{plan.value.files}"``); a step may
fan out over a list; failure policies decide what a failed step does to the rest; a run
resumes after a restart when the store is durable."""

from __future__ import annotations

from ._config import Config
from ._definition import FanOut, OnFailure, Step, Workflow, WorkflowError
from ._parse import dump, load, parse
from ._persist import NAMESPACE
from ._plugin import Workflows
from ._records import RunResult, RunState, StepResult, StepState
from ._run import Run

__all__ = [
    "NAMESPACE",
    "Config",
    "FanOut",
    "OnFailure",
    "Run",
    "RunResult",
    "RunState",
    "Step",
    "StepResult",
    "StepState",
    "Workflow",
    "WorkflowError",
    "Workflows",
    "dump",
    "load",
    "parse",
]
