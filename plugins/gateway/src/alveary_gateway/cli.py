"""The command-line client of a running gateway: ``alveary submit``, ``status``, ``tasks``,
``task``, ``cancel``, ``requeue``, ``events`` and ``alveary agents list``. Each command is
``callable(argv) -> exit status``, named by an entry point of this package.

Exit status: 0 done, 1 the server refused (or the task failed, or cannot be reached), 2 bad
arguments, 130 interrupted. Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import _show, command
from .client import Client, Failed, dump

POLL = 5.0
"""Seconds of one long-poll while ``--wait`` waits: well under the gateway's ``max_wait``."""

PAGE = 1000
"""Tasks asked for per page: the most ``GET /v1/tasks`` gives."""


def submit_command(argv: Sequence[str]) -> int:
    """Submit a task; print its id, or with --wait its value."""
    parser = command.parser("alveary submit", "Submit a task to a running orchestrator.")
    parser.add_argument("kind", metavar="KIND", help="the task's kind")
    parser.add_argument(
        "--payload", type=command.payload, default=None, help="JSON; '-' reads stdin"
    )
    parser.add_argument(
        "--requires", action="append", default=[], metavar="CAP", help="a capability (repeat)"
    )
    parser.add_argument(
        "--priority", type=command.priority, help="low, medium, high, critical or N"
    )
    parser.add_argument("--timeout", type=command.seconds, help="seconds per attempt")
    parser.add_argument("--max-attempts", type=int, metavar="N", help="attempts before dead")
    parser.add_argument("--idempotency-key", metavar="KEY", help="submit the same task once")
    parser.add_argument("--affinity-key", metavar="KEY", help="keep related tasks together")
    parser.add_argument(
        "--wait",
        nargs="?",
        const=math.inf,
        type=command.seconds,
        metavar="S",
        help="wait (at most S seconds) for the task to end and print its value; "
        "status 1 if it did not succeed",
    )

    def body(args: argparse.Namespace, client: Client) -> int:
        spec = {
            "kind": args.kind,
            "payload": args.payload,
            "requires": args.requires,
            "priority": args.priority,
            "timeout": args.timeout,
            "max_attempts": args.max_attempts,
            "idempotency_key": args.idempotency_key,
            "affinity_key": args.affinity_key,
        }
        sent = {k: v for k, v in spec.items() if v is not None or k == "payload"}
        record = client.call("POST", "/v1/tasks", json=sent).json()
        if args.wait is None:
            print(dump(record) if args.json else record["id"])
            return 0
        return _finish(args, client, _wait(client, record, args.wait))

    return command.run(parser, argv, body)


def _wait(client: Client, record: dict[str, Any], limit: float) -> dict[str, Any]:
    """The task's record once it ended, or as it is when ``limit`` seconds have passed.
    Why it cannot be placed, when no agent or pool could take it, is said on stderr (once
    per reason: an agent may still come, so the wait goes on)."""
    deadline = time.monotonic() + limit
    said = None
    while True:
        waiting = record.get("waiting")
        if waiting and waiting != said:
            print(f"alveary submit: task {record['id']} waits: {waiting}", file=sys.stderr)
            said = waiting
        left = max(0.0, deadline - time.monotonic())
        response = client.call(
            "GET", command.task_path(record["id"], "/result"), params={"wait": min(left, POLL)}
        )
        record = response.json()
        if response.status_code == 200 or left <= 0:
            return record


def _finish(args: argparse.Namespace, client: Client, record: dict[str, Any]) -> int:
    """Print a waited-for task: its value (or record with ``--json``); status 1 unless it
    succeeded."""
    if args.json:
        print(dump(record))
    elif record["state"] == "succeeded":
        print(_show.value_text(record["value"]))
    if record["state"] == "succeeded":
        return 0
    if record["state"] in _show.LIVE:
        raise Failed(f"task {record['id']} is still {record['state']} after {args.wait:g}s")
    reason = f": {record['error']}" if record["error"] else ""
    raise Failed(f"task {record['id']} {record['state']}{reason}")


def task_command(argv: Sequence[str]) -> int:
    """Show one task's record."""
    parser = command.parser("alveary task", "Show one task.")
    parser.add_argument("id", type=command.task_id, metavar="ID")

    def body(args: argparse.Namespace, client: Client) -> int:
        record = client.get(command.task_path(args.id))
        print(dump(record) if args.json else _show.task_lines(record))
        return 0

    return command.run(parser, argv, body)


def cancel_command(argv: Sequence[str]) -> int:
    """Cancel a task.

    A task that had already ended is left as it is (status 0: either way it no longer
    runs)."""
    parser = command.parser("alveary cancel", "Cancel a task.")
    parser.add_argument("id", type=command.task_id, metavar="ID")

    def body(args: argparse.Namespace, client: Client) -> int:
        answer = client.call("DELETE", command.task_path(args.id)).json()
        if args.json:
            print(dump(answer))
        elif answer["cancelled"]:
            print(f"cancelled {answer['task']['id']}")
        else:
            print(f"{answer['task']['id']} had already ended: {answer['task']['state']}")
        return 0

    return command.run(parser, argv, body)


def requeue_command(argv: Sequence[str]) -> int:
    """Run a dead or failed task again."""
    parser = command.parser("alveary requeue", "Run a dead or failed task again.")
    parser.add_argument("id", type=command.task_id, metavar="ID")

    def body(args: argparse.Namespace, client: Client) -> int:
        record = client.call("POST", command.task_path(args.id, "/requeue")).json()
        print(dump(record) if args.json else f"requeued {record['id']}: {record['state']}")
        return 0

    return command.run(parser, argv, body)


def approvals_command(argv: Sequence[str]) -> int:
    """List the commands waiting for someone to approve or reject them."""
    return _shown(
        argv,
        "alveary approvals",
        "List the commands waiting for a decision.",
        "/v1/approvals",
        _show.approval_rows,
    )


def approve_command(argv: Sequence[str]) -> int:
    """Approve the command a task waits on: it runs."""
    return _decide(argv, approve=True)


def reject_command(argv: Sequence[str]) -> int:
    """Reject the command a task waits on: the task fails."""
    return _decide(argv, approve=False)


def _decide(argv: Sequence[str], *, approve: bool) -> int:
    verb = "approve" if approve else "reject"
    about = "Let the command a task waits on run." if approve else "Refuse it; the task fails."
    parser = command.parser(f"alveary {verb}", about)
    parser.add_argument("id", type=command.task_id, metavar="ID")
    if not approve:
        parser.add_argument("--reason", default="", help="why, for the task's error")

    def body(args: argparse.Namespace, client: Client) -> int:
        sent = None if approve else {"reason": args.reason}
        record = client.call("POST", command.task_path(args.id, f"/{verb}"), json=sent).json()
        print(dump(record) if args.json else f"{verb}d {record['task_id']}: {record['command']}")
        return 0

    return command.run(parser, argv, body)


def tasks_command(argv: Sequence[str]) -> int:
    """List tasks, oldest first: every page of them, or the first --limit."""
    parser = command.parser("alveary tasks", "List tasks, oldest first.")
    parser.add_argument(
        "--state", type=command.state, help="only tasks in this state (queued, running, dead, ...)"
    )
    parser.add_argument("--kind", help="only tasks of this kind")
    parser.add_argument("--limit", type=command.positive, metavar="N", help="at most N tasks")

    def body(args: argparse.Namespace, client: Client) -> int:
        records = _listing(client, args.state, args.kind, args.limit)
        print(dump(records) if args.json else _show.task_rows(records))
        return 0

    return command.run(parser, argv, body)


def _listing(
    client: Client, state: str | None, kind: str | None, limit: float | None
) -> list[dict[str, Any]]:
    """Tasks from ``GET /v1/tasks``, following its cursor until ``limit`` or the last page."""
    wanted = math.inf if limit is None else limit
    records: list[dict[str, Any]] = []
    cursor = None
    while len(records) < wanted:
        size = int(min(PAGE, wanted - len(records)))
        page = client.get("/v1/tasks", state=state, kind=kind, limit=size, cursor=cursor)
        records += page["items"]
        cursor = page["next"]
        if cursor is None:
            break
    return records


def status_command(argv: Sequence[str]) -> int:
    """Show readiness, pools, agents and the tasks not yet finished."""
    parser = command.parser("alveary status", "Show pools, agents and the queue.")

    def body(args: argparse.Namespace, client: Client) -> int:
        ready = client.call("GET", "/v1/ready", accept=(503,)).json()
        pools = client.get("/v1/pools")
        agents = client.get("/v1/agents")
        live = {s: _count(client, s) for s in _show.LIVE}
        offered = client.call("GET", "/v1/metrics/slo", accept=(404,))  # with alveary-metrics' SLOs
        health = offered.json().get("health") if offered.status_code == 200 else None
        if args.json:
            shown = {"ready": ready, "pools": pools, "agents": agents, "tasks": live}
            print(dump({**shown, "health": health}))
            return 0
        state = _readiness(ready)
        print(f"{client.url}: {state}")
        print(f"{_show.health_line(health)}\n" if health else "")
        print(f"{_show.pool_rows(pools)}\n\n{_show.agent_rows(agents)}\n")
        print(_show.counts(live))
        return 0

    return command.run(parser, argv, body)


COUNT_PAGES = 10
"""Pages ``alveary status`` reads to count tasks in one state; more shows as ``N+``."""


def _count(client: Client, state: str) -> str:
    found = _listing(client, state, None, PAGE * COUNT_PAGES + 1)
    return f"{PAGE * COUNT_PAGES}+" if len(found) > PAGE * COUNT_PAGES else str(len(found))


def agents_list_command(argv: Sequence[str]) -> int:
    """List the agents of a running orchestrator."""
    return _shown(
        argv,
        "alveary agents list",
        "List the agents of a running orchestrator.",
        "/v1/agents",
        _show.agent_rows,
    )


def _shown(
    argv: Sequence[str], prog: str, about: str, path: str, rows: Callable[[Any], str]
) -> int:
    """A command that reads ``path`` and prints it as ``rows`` (or its JSON)."""
    parser = command.parser(prog, about)

    def body(args: argparse.Namespace, client: Client) -> int:
        found = client.get(path)
        print(dump(found) if args.json else rows(found))
        return 0

    return command.run(parser, argv, body)


def events_command(argv: Sequence[str]) -> int:
    """Print the events the gateway still keeps, then with --follow the live ones."""
    parser = command.parser(
        "alveary events",
        "Print the events the gateway keeps for replay; with --follow, then live ones.",
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing live events")
    parser.add_argument(
        "--type", action="append", default=[], metavar="T", help="a type, or task.* (repeat)"
    )

    def body(args: argparse.Namespace, client: Client) -> int:
        for kind, data in client.events(args.type, after=0):
            if kind is None:
                if data == "replayed" and not args.follow:
                    return 0
                continue
            record = json.loads(data)
            own = "type" not in record  # a frame of this stream, not an orchestrator event
            if own and kind == "gateway.gap" and not args.json:  # a note for people
                first, last = record["after"] + 1, record["oldest"] - 1
                which = f"event {first}" if first == last else f"events {first} to {last}"
                print(f"alveary events: the gateway no longer keeps {which}", file=sys.stderr)
                continue
            if args.json:
                line = json.dumps({"type": kind, "data": record}) if own else data
            else:
                line = _show.event_line(kind, record)
            print(line, flush=True)
            if own and kind == "gateway.dropped":  # this stream; the event is another's
                raise Failed(f"the server ended the stream: {record['reason']}")
        raise Failed("the server closed the stream")

    return command.run(parser, argv, body)


def _readiness(ready: dict[str, Any]) -> str:
    """``ready``, or why not: a standby replica, remote pools short of their ``min``."""
    if ready["ok"]:
        return "ready"
    if ready.get("leader"):
        return f"standing by ({ready['leader']} leads)"
    missing = ", ".join(f"{n} for {pool}" for pool, n in (ready.get("missing") or {}).items())
    return f"not ready: waiting for remote agents ({missing})"
