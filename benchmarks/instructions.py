"""Instructions executed per task, counted by valgrind: the kernel's cost where the clock is
too noisy to compare two versions.

    uv run python benchmarks/instructions.py                      # about two minutes on 2 cores
    uv run python benchmarks/instructions.py --against OLD/core/src --wait gather
    uv run python benchmarks/instructions.py --metrics            # with the metrics plugin too

Each of the kernel's two variants (built-ins only, three no-op plugins; as in ``run.py``)
and the asyncio floor runs a burst under ``valgrind --tool=callgrind``: 50 agents, 500
warm-up tasks, then N tasks submitted and awaited (with ``alveary.results``, or with
``--wait gather``, ``asyncio.gather`` over ``result()``, which versions before ``results``
need). The same program with no burst is run too; the difference divided by N is the count
per task. ``--against`` also counts the kernel found at that path (a checkout's
``core/src``, put first on ``PYTHONPATH``), side by side.

Every run starts at once, ticks are off, the hook budget is a minute and ``PYTHONHASHSEED``
is fixed. Runs started together agree to a few parts in a million; runs started at another
time, on a machine loaded differently, can differ by several percent, so compare versions in
one invocation.

Needs valgrind (``apt-get install valgrind``). Prints a table and writes
``benchmarks/results/instructions.json``. Numbers only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VARIANTS = ("builtins", "plugins", "floor")
AGENTS = 50
WARMUP = 500
COLLECTED = re.compile(r"Collected : (\d+)")


async def burst(variant: str, tasks: int, wait: str) -> None:
    """The measured program: warm up, then ``tasks`` tasks (none for the baseline)."""
    from _common import collect_as_alveary_run

    collect_as_alveary_run()
    if variant == "floor":
        from _floor import Floor

        async with Floor(AGENTS) as floor:
            for count in (WARMUP, tasks):
                await asyncio.gather(*(floor.submit(i) for i in range(count)))
        return
    import _kernel

    # No ticks (they fire by the clock), and a budget no hook call reaches under valgrind,
    # where a collection inside a call can take longer than the default 0.1 s.
    config = {"orchestrator": {"tick_interval": 3600, "hook_timeout": 60}}
    if variant == "metrics":
        from alveary_metrics import Config, Metrics

        plugins: list[object] = [Metrics(Config(listen="127.0.0.1:0"))]
    else:
        plugins = [_kernel.NoopPlugin(f"noop-{i}") for i in range(_kernel.VARIANTS[variant])]
    from alveary import Orchestrator

    async with Orchestrator.from_config(config, plugins=plugins) as orch:
        await _kernel.register(orch, _kernel.agent_specs(AGENTS))
        for count in (WARMUP, tasks):
            handles = [await orch.submit(_kernel.TASK) for _ in range(count)]
            if wait == "gather":
                await asyncio.gather(*(h.result() for h in handles))
            else:
                from alveary import results

                await results(handles)


def counted(
    valgrind: str, variant: str, tasks: int, wait: str, kernel: str | None
) -> subprocess.Popen[str]:
    """Start the burst under callgrind; its stderr ends with the count."""
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    command += [__file__, "--child", variant, str(tasks), wait]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if kernel is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [kernel, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def count_of(process: subprocess.Popen[str]) -> int:
    _, err = process.communicate()
    found = COLLECTED.search(err)
    if process.returncode != 0 or found is None:
        raise SystemExit(f"a measured run failed (exit {process.returncode}):\n{err[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=4_000, help="tasks in the burst (4,000)")
    parser.add_argument("--wait", choices=("results", "gather"), default="results")
    parser.add_argument("--against", metavar="PATH", help="another kernel's source directory")
    parser.add_argument(
        "--metrics", action="store_true", help="also count the built-ins with the metrics plugin"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(burst(args.child[0], int(args.child[1]), args.child[2]))
        return 0
    if args.against is not None and not (Path(args.against) / "alveary").is_dir():
        print(f"--against {args.against}: no alveary package there", file=sys.stderr)
        return 2
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    kernels = {"this": None} if args.against is None else {"this": None, "against": args.against}
    runs = {
        (name, v, n): counted(valgrind, v, n, args.wait, path)
        for name, path in kernels.items()
        for v in ((*VARIANTS, "metrics") if args.metrics else VARIANTS)
        for n in (0, args.tasks)
        if name == "this" or v != "floor"
    }
    print(f"counting {len(runs)} runs under valgrind at once...", file=sys.stderr)
    counts = {key: count_of(process) for key, process in runs.items()}
    per_task = {
        f"{name} {v}": (counts[name, v, args.tasks] - counts[name, v, 0]) / args.tasks
        for name, v, n in counts
        if n == 0
    }
    floor = per_task["this floor"]
    print(
        f"instructions per task ({args.tasks:,} tasks, {AGENTS} agents, waiting with {args.wait})"
    )
    for key, value in per_task.items():
        label = key.removeprefix("this ") if args.against is None else key
        ratio = "" if key.endswith("floor") else f"  {value / floor:5.1f}x the floor"
        print(f"  {label:17} {value:10,.0f}{ratio}")
    out = HERE / "results" / "instructions.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results = {
        "tasks": args.tasks,
        "wait": args.wait,
        "against": args.against,
        "per_task": per_task,
    }
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
