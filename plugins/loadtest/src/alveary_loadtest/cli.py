"""``alveary loadtest PLAN.toml``: run a plan against the orchestrator of a config in this
process, or against a running one through its gateway (``--url``).

Exit status: 0 every target met and no regression, 1 a target missed, a metric regressed
beyond the baseline's limit, or the orchestrator could not be reached or started, 2 a bad plan,
baseline or argument, 130 interrupted (the partial report is still written).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from alveary import AlvearyError, ConfigError, PluginError
from alveary_gateway.client import Failed
from alveary_gateway.command import seconds

from . import _plots, _report, _targets
from ._measure import Recorder
from ._phases import Backend, Run
from ._plan import Plan, PlanError, read

PROG = "alveary loadtest"
MAX_THREADS = 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Load-test an orchestrator: spawn agents, delegate tasks one at a time "
        "and many at once, ramp the rate until a target breaks; check the targets and "
        "compare with a baseline.",
    )
    parser.add_argument("plan", metavar="PLAN.toml", help="the plan to run")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="run the orchestrator of this config in process (default: the plan's "
        "loadtest.config, else embedded defaults with local agents)",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("ALVEARY_URL") or None,
        help="drive a running orchestrator through its gateway (default: $ALVEARY_URL)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("ALVEARY_TOKEN"),
        help="sent as 'Authorization: Bearer TOKEN' (default: $ALVEARY_TOKEN)",
    )
    parser.add_argument("--report", metavar="FILE", help="write the JSON report here")
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="an earlier --report: warn beyond 15%%, fail beyond 25%% worse per metric",
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="throughput and latency over time (needs [plots])"
    )
    parser.add_argument(
        "--progress-every",
        type=_interval,
        default=5.0,
        metavar="S",
        help="seconds between progress lines when stderr is not a terminal (default 5)",
    )
    return parser


def _interval(text: str) -> float:
    """Seconds between progress lines: a finite number, at least a tenth of a second."""
    value = seconds(text)
    if value < 0.1:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0.1, got {text!r}")
    return value


def main(argv: Sequence[str]) -> int:
    """Load-test an orchestrator, in process or through its gateway."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or bad usage (argparse printed why)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        plan = read(args.plan)
        baseline = _targets.load_baseline(args.baseline) if args.baseline else {}
        if args.plot:
            _plots.check()
        backend = _backend(args, plan)
    except (PlanError, _targets.BaselineError, _plots.PlotsMissing) as exc:
        return _say(str(exc), 2)
    except (ConfigError, PluginError) as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except Failed as exc:
        return _say(str(exc), exc.status)
    rec = Recorder()
    run = Run(plan, backend, rec)
    status = asyncio.run(_execute(run, args.progress_every))
    if status not in (0, 130):  # could not reach or start it: nothing to report
        return status
    found = _targets.metrics(plan, run.results, rec)
    verdicts = _targets.check(plan, run.results, found)
    compared = _targets.compare(found, baseline)
    report = _report.build(
        args.plan, backend.name, rec, run.results, found, verdicts, compared, status == 130
    )
    if args.report:
        _report.write(args.report, report)
    if args.plot and rec.samples:
        _plots.plot(report, args.plot)
    _report.emit(_report.summary(report))
    if status == 130:
        return 130
    return 0 if report["passed"] else 1


def _backend(args: argparse.Namespace, plan: Plan) -> Backend:
    """The orchestrator to drive: the gateway at ``--url``, else one in this process."""
    config = plan.config if args.config is None else args.config
    if args.url is None:
        from ._inprocess import InProcess

        if config is not None:
            folder = os.path.dirname(os.path.abspath(config))
            if folder not in sys.path:  # handlers named "module:function" beside the config
                sys.path.insert(0, folder)
        return InProcess(config)
    if args.config is not None:
        raise Failed("--config and --url: choose one orchestrator", 2)
    if "spawn" in plan.phases and plan.spawn.pool is None:
        raise PlanError(f"{plan.source}: spawn.pool: expected the pool to size with --url")
    from ._remote import Remote

    loads = [getattr(plan, p).in_flight for p in ("concurrent", "stress") if p in plan.phases]
    return Remote(args.url, args.token, min(MAX_THREADS, max([1, *loads]) + 4))


async def _execute(run: Run, every: float) -> int:
    """Run the phases with the progress line; Ctrl-C stops them and keeps what was found."""
    from . import _progress

    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    interrupted: list[bool] = []

    def interrupt() -> None:
        interrupted.append(True)
        me.cancel()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    progress = asyncio.ensure_future(_progress.show(run.rec, sys.stderr, every))
    status = 0
    try:
        await run()
    except asyncio.CancelledError:
        if not interrupted:
            raise
        status = 130
    except Failed as exc:
        status = _say(str(exc), 1)
    except AlvearyError as exc:
        status = _say(f"{type(exc).__name__}: {exc}", 1)
    finally:
        progress.cancel()
        await asyncio.gather(progress, return_exceptions=True)
        await run.backend.close()
        loop.remove_signal_handler(signal.SIGINT)
    return status


def _say(line: str, status: int) -> int:
    print(f"{PROG}: {line}", file=sys.stderr)
    return status
