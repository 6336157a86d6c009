"""Quality gates: checks run after an attempt succeeds, in the agent's workspace; a failing
required gate fails the attempt, and the score is the share of gates that passed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import alveary
import attrs
from alveary_subprocess import Supervisor

from ._config import Gate
from ._counters import Counters
from ._document import Document, encode
from ._runner import run_with_retries
from ._select import Fields
from ._shell import Report, Shell, count


@attrs.frozen
class Verdict:
    """What the gates said of one attempt."""

    passed: int
    total: int
    results: list[dict[str, Any]]
    failed: list[str]
    """Why each failing required gate failed (``tests: exited with code 1``)."""
    retry: bool
    """Whether the attempt may be tried again: no failing required gate says otherwise."""

    @property
    def score(self) -> float:
        return self.passed / self.total

    def data(self) -> dict[str, Any]:
        """The ``hook.gates`` event's data."""
        return {
            "score": round(self.score, 4),
            "passed": self.passed,
            "total": self.total,
            "gates": self.results,
        }

    def error(self) -> str:
        """The failed attempt's error."""
        return f"quality gates failed ({self.passed}/{self.total} passed): " + "; ".join(
            self.failed
        )


class Gates:
    """Every configured gate, with its field match and counters."""

    def __init__(self, gates: tuple[Gate, ...], shell: Shell, report: Report) -> None:
        self.gates = [(gate, Fields(gate.match), Counters()) for gate in gates]
        self.counters = {gate.name: counters for gate, _, counters in self.gates}
        self._shell = shell
        self._report = report

    def __bool__(self) -> bool:
        return bool(self.gates)

    async def check(self, document: Document, workspace: Path | None) -> Verdict | None:
        """Run the gates that apply to the task, one after the other (they may share the
        workspace), all of them so the score is whole; None when none applies."""
        chosen = [(g, c) for g, fields, c in self.gates if not fields or fields(document)]
        if not chosen:
            return None
        stdin = encode(document)
        results, failed, retry = [], [], True
        extra = {"ALVEARY_WORKSPACE": str(workspace)} if workspace is not None else {}
        for gate, counters in chosen:
            spec = self._shell.spec(
                gate.command,
                gate.env,
                _cwd(gate.cwd, workspace),
                gate.name,
                document,
                gate.timeout,
                gate.max_output,
                extra,
            )
            result = await run_with_retries(spec, stdin, 0)
            count(counters, result)
            results.append(
                {
                    "name": gate.name,
                    "ok": result.ok,
                    "required": gate.required,
                    "error": result.error,
                    "output": result.output,
                    "took": round(result.took, 3),
                }
            )
            if not result.ok:
                self._report("gate", gate.name, document, result)
                if gate.required:
                    failed.append(f"{gate.name}: {result.error}")
                    retry = retry and gate.retry
        passed = sum(1 for r in results if r["ok"])
        return Verdict(passed, len(results), results, failed, retry)


def workspace(host: alveary.Host | None, agent: alveary.Agent) -> Path | None:
    """Where the agent works, when its runtime gives it a directory of its own (the
    ``subprocess`` and ``tmux`` runtimes' ``workspace`` or ``cwd`` options)."""
    if host is None:
        return None
    runtime = host.runtimes.get(agent.spec.runtime)
    if not isinstance(runtime, Supervisor):
        return None
    live = runtime.live.get(agent.id)
    return None if live is None else live.workspace.path


def _cwd(cwd: str | None, workspace: Path | None) -> Path | None:
    if cwd is None:
        return workspace
    path = Path(cwd).expanduser()
    return workspace / path if workspace is not None and not path.is_absolute() else path
