"""``alveary workflow``: start a workflow from a TOML file on a running orchestrator through
its gateway, and follow its steps (``run FILE [--wait]``), or show a run (``show ID``).

It uses the gateway's command-line client (alveary-gateway): the same ``--url``, ``--token``
and ``--json``, one line on stderr for every failure, status 2 for bad input, 1 when the
server refuses or the run does not succeed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from ._definition import WorkflowError
from ._parse import dump, load

INTERVAL = 0.5
"""Seconds between two looks at a run while ``--wait`` follows it."""


def main(argv: Sequence[str]) -> int:
    """Start a workflow from a TOML file on a running orchestrator, or show a run."""
    try:
        from alveary_gateway import command
        from alveary_gateway.client import Client, Failed, connection_options
        from alveary_gateway.client import dump as show_json
    except ImportError:
        print(
            "alveary workflow: needs alveary-gateway (pip install alveary-gateway)", file=sys.stderr
        )
        return 2
    parser = argparse.ArgumentParser(prog="alveary workflow", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", parents=[connection_options()], help="start a run")
    run.add_argument("file", metavar="FILE.toml")
    run.add_argument(
        "--wait",
        nargs="?",
        const=math.inf,
        type=command.seconds,
        metavar="S",
        help="follow the steps until the run ends (at most S seconds); "
        "status 1 unless it succeeded",
    )
    show = commands.add_parser("show", parents=[connection_options()], help="show a run")
    show.add_argument("id", type=command.task_id, metavar="ID")

    def body(args: argparse.Namespace, client: Client) -> int:
        if args.command == "show":
            record = client.get(_path(args.id))
            print(show_json(record) if args.json else _lines(record))
            return 0
        try:
            workflow = load(args.file)
        except WorkflowError as error:
            raise Failed(
                error.lines[0] if len(error.lines) == 1 else "; ".join(error.lines), 2
            ) from None
        answer = client.call("POST", "/v1/workflows", json=dump(workflow), accept=(404,))
        if answer.status_code == 404:
            raise Failed(
                f'{client.url} runs no workflows: add "workflows" to [plugins] enabled '
                "in its config"
            )
        record = answer.json()
        if args.wait is None:
            print(show_json(record) if args.json else record["id"])
            return 0
        record = _follow(client, record, args.wait, quiet=args.json)
        if args.json:
            print(show_json(record))
        if record["state"] == "succeeded":
            return 0
        if record["state"] in ("pending", "running"):
            raise Failed(f"run {record['id']} is still {record['state']} after {args.wait:g}s")
        raise Failed(f"run {record['id']} {record['state']}")

    return command.run(parser, argv, body)


def _follow(client: Any, record: dict[str, Any], wait: float, *, quiet: bool) -> dict[str, Any]:
    """Print each step's changes until the run ends or ``wait`` seconds pass."""
    deadline = time.monotonic() + wait
    seen: dict[str, str] = {}
    if not quiet:
        print(f"run {record['id']} ({record['workflow']})", flush=True)
    while True:
        for name, step in record["steps"].items():
            if seen.get(name) != step["state"]:
                seen[name] = step["state"]
                if not quiet:
                    print(_step_line(name, step), flush=True)
        if record["state"] not in ("pending", "running") or time.monotonic() >= deadline:
            if not quiet:
                print(f"run {record['id']} {record['state']}", flush=True)
            return record
        time.sleep(min(INTERVAL, max(0.0, deadline - time.monotonic())))
        record = client.get(_path(record["id"]))


def _step_line(name: str, step: dict[str, Any]) -> str:
    tasks = ",".join(step["task_ids"]) or "-"
    error = f"  {step['error']}" if step.get("error") else ""
    return f"  {name:<20} {step['state']:<10} {tasks}{error}"


def _lines(record: dict[str, Any]) -> str:
    head = f"run {record['id']} ({record['workflow']}): {record['state']}"
    return "\n".join([head, *(_step_line(n, s) for n, s in record["steps"].items())])


def _path(run_id: str) -> str:
    return f"/v1/workflows/{quote(run_id, safe='')}"
