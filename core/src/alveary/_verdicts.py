"""Commands built from tasks: what ``alveary_command_check`` says about them, and the
approvals a task waits for when it says ``approve``.

A runtime about to run a command made from a task's payload (a ``subprocess`` tool's
argument vector or shell script) awaits ``Orchestrator.guard_command``. Every implementer of
the hook is asked and the strictest verdict wins; the gate fails closed, so a guard that
raises, overruns, answers nonsense or was disabled blocks the command. A blocked or rejected
command fails its task at once, without retries: running it again would ask the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from ._errors import NotFound, PermanentFailure
from ._records import Agent, Task

if TYPE_CHECKING:
    from ._events import EventBus

log = structlog.get_logger("alveary")

VERDICTS = ("allow", "log", "approve", "block")
"""What a guard may say, from the most to the least permissive."""


def _action(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in VERDICTS:
        raise ValueError(f"action must be one of {', '.join(VERDICTS)}, got {value!r}")


@attrs.frozen
class CommandVerdict:
    """What a guard says about a command. ``action``: ``allow`` it, run it but ``log`` it,
    wait for someone to ``approve`` it, or ``block`` it. ``risk`` and ``rules`` say what
    matched (none: nothing did); ``reason`` says it for people, with no secrets."""

    action: str = attrs.field(validator=_action)
    risk: str | None = None
    rules: tuple[str, ...] = ()
    reason: str = ""

    @property
    def runs(self) -> bool:
        """The command may run without asking: ``allow`` or ``log``."""
        return self.action in ("allow", "log")


@attrs.frozen
class Approval:
    """A command a task waits on until someone approves or rejects it."""

    task_id: str
    kind: str
    agent: str
    command: str
    """The command, as the guard was shown it (cut at 500 characters)."""
    reason: str
    risk: str | None
    since: float
    """When it began to wait (wall-clock seconds)."""


def strictest(verdicts: Sequence[CommandVerdict]) -> CommandVerdict:
    """The verdict that allows least (``allow`` when there is none)."""
    return max(verdicts, key=lambda v: VERDICTS.index(v.action), default=CommandVerdict("allow"))


def shown(command: str | Sequence[str]) -> str:
    text = command if isinstance(command, str) else " ".join(command)
    return text if len(text) <= 500 else text[:497] + "..."


class Approvals:
    """The commands tasks wait on, and the decisions that release them."""

    def __init__(self, events: EventBus) -> None:
        self._events = events
        self._waiting: dict[str, tuple[Approval, asyncio.Future[str | None]]] = {}

    def pending(self) -> list[Approval]:
        """Every command waiting for a decision, oldest first."""
        return sorted((a for a, _ in self._waiting.values()), key=lambda a: a.since)

    async def enforce(
        self, verdict: CommandVerdict, task: Task, agent: Agent, command: str | Sequence[str]
    ) -> None:
        """Act on ``verdict``: return if the command may run (after waiting for an approval),
        raise ``PermanentFailure`` if it may not."""
        data = {
            "action": verdict.action,
            "risk": verdict.risk,
            "rules": list(verdict.rules),
            "reason": verdict.reason,
            "command": shown(command),
        }
        if verdict.action == "allow":
            return
        if verdict.action == "log":
            self._events.emit("command.flagged", task=task, agent=agent, data=data)
            log.warning("risky command runs", task=task.id, agent=agent.name, why=verdict.reason)
            return
        if verdict.action == "block":
            self._events.emit("command.blocked", task=task, agent=agent, data=data)
            raise PermanentFailure(f"command blocked: {verdict.reason}")
        await self._wait(verdict, task, agent, data)

    async def _wait(
        self, verdict: CommandVerdict, task: Task, agent: Agent, data: dict[str, Any]
    ) -> None:
        if task.id in self._waiting:  # one attempt of a task runs at a time
            raise PermanentFailure("command waits for an approval already")
        approval = Approval(
            task.id,
            task.spec.kind,
            agent.name,
            data["command"],
            verdict.reason,
            verdict.risk,
            time.time(),
        )
        decided: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting[task.id] = (approval, decided)
        self._events.emit("command.approval", task=task, agent=agent, data=data)
        try:
            rejected = await decided
        finally:
            self._waiting.pop(task.id, None)
        if rejected is not None:
            raise PermanentFailure(f"command rejected: {rejected}")

    def decide(self, task: Task, approve: bool, by: str, note: str) -> Approval:
        """Release the command ``task`` waits on; raises ``NotFound`` if it waits on none."""
        found = self._waiting.get(task.id)
        if found is None:
            raise NotFound(f"task {task.id!r} waits for no approval")
        approval, decided = found
        outcome = "approved" if approve else "rejected"
        data = {"command": approval.command, "by": by, "note": note}
        self._events.emit(f"command.{outcome}", task=task, data=data)
        if not decided.done():
            decided.set_result(None if approve else f"by {by}" + (f": {note}" if note else ""))
        return approval
