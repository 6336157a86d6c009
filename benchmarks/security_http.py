"""Benchmark the security plugin over HTTP: task submissions per second through the gateway
with no security, with an API key and with a JWT (HS256).

    uv run python benchmarks/security_http.py [--seconds 5] [--rounds 3] [--clients 8]

Each mode runs a real orchestrator with the gateway (and the security plugin, with its audit
log and the default ``audit_allowed``, but a rate limit high enough not to refuse) in a
server process, with one local agent of capacity 64 running an async no-op. This process
drives it with ``--clients`` keep-alive httpx clients, each posting ``POST /v1/tasks`` one
after another, for a warm-up second and then ``--seconds``. The modes alternate for
``--rounds`` rounds; the median and the best of each are printed, with their share of the
unauthenticated rate, and the server's CPU time per submission (from ``/proc``; the machine's
other load moves the rates far more than it moves this). Never fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

MODES = ("no security", "API key", "JWT")
SECRET = "benchmark-secret-" * 3
BODY = {"kind": "noop", "payload": {"n": 1}, "requires": ["noop"], "max_attempts": 1}


async def noop(task: Any) -> None:
    return None


def settings(mode: str, folder: Path) -> dict[str, Any]:
    enabled = ["gateway"] if mode == "no security" else ["gateway", "security"]
    security = {
        "keys_file": str(folder / "keys.json"),
        "audit_log": str(folder / "audit.jsonl"),
        "jwt": {"secret_env": "BENCH_JWT_SECRET", "audience": "alveary"},
        "roles": {
            "submitter": {"allow": ["task.submit"], "capabilities": ["noop"]},
            "admin": {"allow": ["*"]},
        },
        "limits": {"rate": 1e9, "burst": 10**9},
    }
    plugins: dict[str, Any] = {"enabled": enabled, "gateway": {"listen": "127.0.0.1:0"}}
    if mode != "no security":
        plugins["security"] = security
    return {"plugins": plugins}


async def serve(mode: str, folder: Path) -> None:
    """The server process: start, say where and with which header, serve until stdin ends."""
    import jwt
    from alveary import AgentSpec, Orchestrator
    from alveary_security import KeyStore

    os.environ["BENCH_JWT_SECRET"] = SECRET
    headers: dict[str, str] = {}
    if mode == "API key":
        headers["x-api-key"] = KeyStore(str(folder / "keys.json")).create("bench", "submitter")
    elif mode == "JWT":
        claims = {"sub": "bench", "roles": ["submitter"], "aud": "alveary", "exp": 2**40}
        headers["authorization"] = f"Bearer {jwt.encode(claims, SECRET, 'HS256')}"
    admin = {"x-api-key": KeyStore(str(folder / "keys.json")).create("admin", "admin")}
    async with Orchestrator.from_config(settings(mode, folder)) as orch:
        spec = AgentSpec("noop", frozenset({"noop"}), 64, options={"handler": noop})
        await orch.register(spec, credentials=admin)
        url = orch.plugins["gateway"].url
        print(json.dumps({"url": url, "headers": headers}), flush=True)
        await asyncio.to_thread(sys.stdin.read)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    url: str, headers: dict[str, str], clients: int, seconds: float, pid: int
) -> tuple[float, float]:
    """Submissions per second over ``seconds``, after one second of warm-up, and the
    server's CPU time per submission, in microseconds."""
    counts = [0] * clients
    measuring = asyncio.Event()
    stop = asyncio.Event()

    async def client(n: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as http:
            while not stop.is_set():
                answer = await http.post("/v1/tasks", json=BODY)
                if answer.status_code != 202:
                    raise SystemExit(f"{answer.status_code}: {answer.text}")
                if measuring.is_set():
                    counts[n] += 1

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    await asyncio.sleep(1.0)
    measuring.set()
    start, used = time.perf_counter(), cpu_seconds(pid)
    await asyncio.sleep(seconds)
    done = sum(counts)
    elapsed, used = time.perf_counter() - start, cpu_seconds(pid) - used
    stop.set()
    await asyncio.gather(*tasks)
    return done / elapsed, used / max(done, 1) * 1e6


def measure(mode: str, clients: int, seconds: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", mode, "--folder", tmp],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdin is not None
        assert server.stdout is not None
        try:
            line = server.stdout.readline()
            while line and not line.startswith("{"):  # the server's own log lines
                line = server.stdout.readline()
            started = json.loads(line)
            return asyncio.run(
                drive(started["url"], started["headers"], clients, seconds, server.pid)
            )
        finally:
            server.stdin.close()
            server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, Path(args.folder)))
        return
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    costs: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round in range(args.rounds):
        for mode in MODES:
            rate, cost = measure(mode, args.clients, args.seconds)
            rates[mode].append(rate)
            costs[mode].append(cost)
            print(f"round {round + 1} {mode}: {rate:.0f}/s, {cost:.0f} us", file=sys.stderr)
    base = statistics.median(rates["no security"])
    best = max(rates["no security"])
    print(
        f"{'mode':<12} {'median/s':>9} {'of none':>8} {'best/s':>7} {'of none':>8} "
        f"{'server CPU us/submit':>21}"
    )
    for mode in MODES:
        median, top = statistics.median(rates[mode]), max(rates[mode])
        print(
            f"{mode:<12} {median:>9.0f} {median / base:>8.0%} {top:>7.0f} {top / best:>8.0%} "
            f"{statistics.median(costs[mode]):>21.0f}"
        )


if __name__ == "__main__":
    main()
