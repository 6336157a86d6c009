"""What every command of the command-line client shares: its parser with the connection
options, the checked argument types, and the one place failures become a line and a status.

Public, like :mod:`alveary_gateway.client`, for other plugins' commands."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from .client import Client, Failed, connection_options


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=prog, description=description, parents=[connection_options()]
    )


def run(
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    body: Callable[[argparse.Namespace, Client], int],
) -> int:
    """Parse ``argv`` (status 2 on a mistake), run ``body`` with a client, and end every
    failure as one line on stderr: the server's refusal, an unreachable server, Ctrl-C."""
    args = parser.parse_args(argv)
    try:
        client = Client.of(args)
        try:
            return body(args, client)
        finally:
            client.close()
    except Failed as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def seconds(text: str) -> float:
    """A finite, non-negative number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def task_id(text: str) -> str:
    """A task id: one path segment (the server makes ids; none has a ``/`` or is a dot
    segment, which would address another route)."""
    if "/" in text or text.strip(".") == "":
        raise argparse.ArgumentTypeError(f"not a task id: {text!r}")
    return text


def task_path(task: str, tail: str = "") -> str:
    return f"/v1/tasks/{quote(task, safe='')}{tail}"


def priority(text: str) -> int | str:
    names = ("low", "medium", "high", "critical")
    if text.lower() in names:
        return text.lower()
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(names)} or an integer"
        ) from None


def state(text: str) -> str:
    """A task state, as the server names them (argparse type)."""
    from alveary import TaskState

    names = [state.value for state in TaskState]
    if text.lower() not in names:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(names)}, got {text!r}")
    return text.lower()


def payload(text: str) -> Any:
    """``--payload``: JSON, or ``-`` to read it from stdin; ``NaN`` and ``Infinity`` are not
    JSON the server takes."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not allowed")

    source = sys.stdin.read() if text == "-" else text
    try:
        return json.loads(source, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value
