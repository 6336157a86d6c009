"""The ``alveary demo`` command: its arguments, then the run."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from ._run import EVENTS, demo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alveary demo",
        description="Pools of agents hash, compress, analyse and (with alveary-subprocess "
        "and wc) count files, some failing or slow on purpose; prints a live progress bar "
        "and a summary.",
    )
    parser.add_argument("--tasks", type=int, default=600, help="tasks to submit (default 600)")
    parser.add_argument(
        "--events",
        metavar="FILE",
        default=EVENTS,
        help="where to write the event log (default: %(default)s)",
    )
    parser.add_argument(
        "--path",
        metavar="DIR",
        default=".",
        help="directory whose files the agents work on (default: .)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=1.5,
        help="per-attempt timeout of analyse tasks; their stuck attempts last this long "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--records",
        metavar="DIR",
        default=None,
        help="keep the task records in DIR/alveary.db (with alveary-state; default: a "
        "temporary directory, removed at exit)",
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """Run a real workload on built-in defaults: pools, faults, retries, a summary."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or bad usage (argparse printed why)
        return exc.code if isinstance(exc.code, int) else 2
    return asyncio.run(
        demo(args.tasks, args.events, args.path, timeout=args.timeout, records=args.records)
    )
