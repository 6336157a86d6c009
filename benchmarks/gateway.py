"""Benchmark the gateway: what HTTP adds to a round trip, how many submits per second it takes
from concurrent clients, what live-event subscribers cost dispatch, and Celery for scale.

    uv run nox -s bench-gateway                 # about two minutes
    uv run nox -s bench-gateway -- --quick      # about 40 seconds
    uv run nox -s bench-gateway -- --celery     # and Celery (redis-server on PATH)
    uv run nox -s bench-gateway -- --profile gateway.prof   # cProfile the server meanwhile

The server (an orchestrator with the gateway and four no-op agents) and every load generator
run in processes of their own (``_gateway_server.py``, ``_gateway_load.py``), so that clients
never share the server's event loop; CPU is read per process. Prints a table and writes
``benchmarks/results/gateway.json``. Numbers only, never pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx
from _common import Progress, latency

HERE = Path(__file__).resolve().parent
FULL = {"round_trips": 2_000, "clients": 8, "seconds": 10.0, "burst": 20_000, "repeats": 5}
QUICK = {"round_trips": 300, "clients": 8, "seconds": 3.0, "burst": 5_000, "repeats": 3}
SUBSCRIBERS = 100


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _line(stream: IO[str] | None) -> dict[str, Any]:
    assert stream is not None
    line = stream.readline()
    if not line:
        raise RuntimeError("a benchmark process ended early; see its standard error")
    answer: dict[str, Any] = json.loads(line)
    return answer


class Server:
    """The server process, steered one JSON line at a time."""

    def __init__(self, burst: int) -> None:
        command = [sys.executable, str(HERE / "_gateway_server.py"), str(burst)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        hello = _line(self.process.stdout)
        self.url, self.pid = hello["url"], hello["pid"]

    def ask(self, do: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": do, **args}) + "\n")
        self.process.stdin.flush()
        return _line(self.process.stdout)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # the server stops at the end of its input
        self.process.wait(30)


def load(*args: object) -> subprocess.Popen[str]:
    command = [sys.executable, str(HERE / "_gateway_load.py"), *map(str, args)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def http_round_trips(url: str, n: int) -> dict[str, Any]:
    """POST /v1/tasks, then GET its result with ``wait``, one task at a time, keep-alive."""
    samples = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(100 + n):
            t0 = time.perf_counter_ns()
            task = client.post("/v1/tasks", json={"kind": "noop", "requires": ["noop"]}).json()
            done = client.get(f"/v1/tasks/{task['id']}/result", params={"wait": 10})
            if done.status_code != 200:
                raise RuntimeError(f"result answered {done.status_code}: {done.text}")
            if i >= 100:  # warm-up first
                samples.append(time.perf_counter_ns() - t0)
    return latency(samples)


def submit_rate(
    server: Server, settings: dict[str, Any], profile: str | None, kind: str = "submit"
) -> dict[str, Any]:
    """Submits per second from ``clients`` concurrent keep-alive clients in another process
    (httpx, or ``raw``: a minimal client); the CPU each side used, as a share of one core,
    and the server's CPU per submit."""
    client = load(kind, server.url, settings["clients"], settings["seconds"])
    _line(client.stdout)  # warmed up: measuring from now
    before = cpu_seconds(server.pid)
    if profile:
        server.ask("profile_start")
    done = _line(client.stdout)
    server_cpu = cpu_seconds(server.pid) - before
    if profile:
        server.ask("profile_stop", path=profile)
    client.wait(30)
    seconds = done["seconds"]
    return {
        "submits_per_s": done["submits"] / seconds,
        "server_cpu": server_cpu / seconds,
        "client_cpu": done["cpu"] / seconds,
        "server_cpu_per_submit_us": server_cpu / done["submits"] * 1e6,
    }


def fan_out(server: Server, settings: dict[str, Any]) -> dict[str, Any]:
    """In-process dispatch of a burst, with no subscriber on /v1/events and with 100; the
    median of ``repeats`` bursts each."""

    def bursts() -> list[dict[str, Any]]:
        runs = []
        for _ in range(settings["repeats"]):
            before = cpu_seconds(server.pid)
            run = server.ask("burst", tasks=settings["burst"])
            run["cpu_per_task_us"] = (cpu_seconds(server.pid) - before) / settings["burst"] * 1e6
            runs.append(run)
        return runs

    alone = bursts()
    readers = load("subscribe", server.url, SUBSCRIBERS)
    _line(readers.stdout)
    watched = bursts()
    assert readers.stdin is not None
    readers.stdin.close()
    read = _line(readers.stdout)["bytes"]
    readers.wait(30)
    without = statistics.median(b["tasks_per_s"] for b in alone)
    with_ = statistics.median(b["tasks_per_s"] for b in watched)
    return {
        "without": without,
        "with": with_,
        "slowdown": 1 - with_ / without,
        "cpu_per_task_us": statistics.median(b["cpu_per_task_us"] for b in alone),
        "cpu_per_task_us_with": statistics.median(b["cpu_per_task_us"] for b in watched),
        "subscribers": watched[-1]["subscribers"],
        "dropped": watched[-1]["dropped"],
        "bytes_read": read,
    }


def celery(round_trips: int) -> dict[str, Any]:
    """Celery's ``delay().get()`` round trip (``_celery.py``, on a redis-server of its own)."""
    import _celery

    with tempfile.TemporaryDirectory() as tmp:
        return _celery.measure(Path(tmp), 1_000, round_trips)


def run(settings: dict[str, Any], with_celery: bool, profile: str | None) -> dict[str, Any]:
    say = Progress()
    results: dict[str, Any] = {}
    server = Server(settings["burst"])
    try:
        say(f"HTTP round trips ({settings['round_trips']:,})")
        results["http_round_trip"] = http_round_trips(server.url, settings["round_trips"])
        samples = server.ask("round_trips", n=settings["round_trips"])["samples_ns"]
        results["in_process_round_trip"] = latency(samples)
        say(f"submits/s, {settings['clients']} clients for {settings['seconds']:g} s")
        results["submits"] = submit_rate(server, settings, None)
        say(f"submits/s, {settings['clients']} minimal clients for {settings['seconds']:g} s")
        results["submits_raw"] = submit_rate(server, settings, profile, "raw")
        say(f"dispatch of {settings['burst']:,} tasks, 0 and {SUBSCRIBERS} SSE subscribers")
        results["fan_out"] = fan_out(server, settings)
    finally:
        server.close()
    if with_celery:
        say("celery round trips")
        results["celery"] = celery(settings["round_trips"])
    return results


def render(results: dict[str, Any], settings: dict[str, Any]) -> str:
    def pair(summary: dict[str, Any]) -> str:
        return f"{summary['p50_us']:,.0f} / {summary['p99_us']:,.0f}"

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    rows = [
        ("round trip p50 / p99 µs, HTTP (POST, GET result?wait)", pair(results["http_round_trip"])),
        ("round trip p50 / p99 µs, in-process", pair(results["in_process_round_trip"])),
    ]
    clients = settings["clients"]
    for key, name in (("submits", "keep-alive httpx"), ("submits_raw", "minimal asyncio")):
        run = results[key]
        rate = run["submits_per_s"]
        rows += [
            (
                f"submits/s, {clients} {name} clients (target >= 3,000)",
                f"{rate:,.0f} ({verdict(rate >= 3000)})",
            ),
            ("  server / client CPU, cores", f"{run['server_cpu']:.2f} / {run['client_cpu']:.2f}"),
            ("  server CPU per submit µs", f"{run['server_cpu_per_submit_us']:,.0f}"),
        ]
    fan = results["fan_out"]
    rows += [
        ("dispatch tasks/s, no SSE subscriber", f"{fan['without']:,.0f}"),
        (
            f"dispatch tasks/s, {fan['subscribers']} SSE subscribers ({fan['dropped']} dropped)",
            f"{fan['with']:,.0f}",
        ),
        (
            "  server CPU per task µs, without / with",
            f"{fan['cpu_per_task_us']:,.0f} / {fan['cpu_per_task_us_with']:,.0f}",
        ),
        (
            "  slowdown (target <= 10%)",
            f"{fan['slowdown']:.1%} ({verdict(fan['slowdown'] <= 0.10)})",
        ),
    ]
    if "celery" in results:
        rows.append(
            (
                "round trip p50 / p99 µs, Celery (delay().get())",
                pair(results["celery"]["round_trip"]),
            )
        )
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value:>18}" for name, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--celery", action="store_true", help="also Celery, Redis broker")
    parser.add_argument(
        "--profile", help="cProfile the server while the minimal clients submit; stats to"
    )
    parser.add_argument("--output", default=str(HERE / "results" / "gateway.json"))
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    results = run(settings, args.celery, args.profile)
    print(render(results, settings))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), **settings}
    Path(args.output).write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
