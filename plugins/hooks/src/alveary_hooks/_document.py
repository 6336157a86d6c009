"""What a hook is told: the event as a JSON document, and as ``ALVEARY_*`` variables.

The document is built when the event happens (a snapshot: the task moves on meanwhile) and
only for events some hook is bound to. Values reach a command on its standard input and in
its environment, never in its arguments, so nothing in them is ever parsed by a shell.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import alveary

_ENV_VALUE = 4096
"""Longest value put in a variable (errors can be long; the whole of it is on stdin)."""

Document = dict[str, Any]


def of_event(event: alveary.Event, host: alveary.Host | None) -> Document:
    """The document for a kernel or plugin event, with its task and agent when known."""
    return {
        "type": event.type,
        "time": event.time,
        "seq": event.seq,
        "task_id": event.task_id,
        "agent_id": event.agent_id,
        "data": dict(event.data),
        "task": _task(host, event.task_id),
        "agent": _agent(host, event.agent_id),
    }


def of_point(
    point: str,
    task: alveary.Task,
    agent: alveary.Agent,
    outcome: alveary.Outcome | None = None,
    *,
    now: float,
) -> Document:
    """The document for ``task.before`` or ``task.after``: also the task's payload and, after,
    the attempt's outcome (its value too)."""
    data: dict[str, Any] = {"attempt": task.attempts}
    if outcome is not None:
        data.update(state=outcome.state.value, error=outcome.error, value=outcome.value)
    described = describe_task(task)
    described["payload"] = task.payload
    return {
        "type": point,
        "time": now,
        "seq": None,
        "task_id": task.id,
        "agent_id": agent.id,
        "data": data,
        "task": described,
        "agent": describe_agent(agent),
    }


def describe_task(task: alveary.Task) -> dict[str, Any]:
    spec = task.spec
    return {
        "id": task.id,
        "kind": spec.kind,
        "state": task.state.value,
        "priority": spec.priority.name.lower(),
        "attempts": task.attempts,
        "max_attempts": spec.max_attempts,
        "labels": dict(spec.labels),
    }


def describe_agent(agent: alveary.Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "pool": agent.pool,
        "runtime": agent.spec.runtime,
        "state": agent.state.value,
        "labels": dict(agent.spec.labels),
    }


def _task(host: alveary.Host | None, task_id: str | None) -> dict[str, Any] | None:
    if host is None or task_id is None:
        return None
    try:
        return describe_task(host.get_task(task_id))
    except alveary.NotFound:
        return None


def _agent(host: alveary.Host | None, agent_id: str | None) -> dict[str, Any] | None:
    if host is None or agent_id is None:
        return None
    try:
        return describe_agent(host.agent(agent_id))
    except alveary.NotFound:
        return None


def encode(document: Any) -> bytes:
    """JSON, with whatever JSON cannot hold (a Python payload) as its ``repr``."""
    return json.dumps(document, default=repr, separators=(",", ":")).encode()


def variables(document: Mapping[str, Any], hook: str) -> dict[str, str]:
    """The ``ALVEARY_*`` variables of a document, for the hook called ``hook``."""
    task, agent, data = document.get("task") or {}, document.get("agent") or {}, document["data"]
    found = {
        "ALVEARY_HOOK": hook,
        "ALVEARY_EVENT_TYPE": document["type"],
        "ALVEARY_EVENT_TIME": repr(document["time"]),
        "ALVEARY_EVENT_SEQ": document["seq"],
        "ALVEARY_TASK_ID": document["task_id"],
        "ALVEARY_TASK_KIND": task.get("kind"),
        "ALVEARY_TASK_ATTEMPT": data.get("attempt", task.get("attempts")),
        "ALVEARY_AGENT_ID": document["agent_id"],
        "ALVEARY_AGENT_NAME": agent.get("name"),
        "ALVEARY_POOL": agent.get("pool"),
        "ALVEARY_STATE": data.get("state", task.get("state")),
        "ALVEARY_ERROR": data.get("error"),
    }
    return {name: _text(value) for name, value in found.items() if value is not None}


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text.replace("\0", "\\0")[:_ENV_VALUE]
