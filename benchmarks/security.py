"""Benchmark alveary-security: the cost of one cached authorization decision on the hot path.

    uv run python benchmarks/security.py

Calls the plugin's ``alveary_authorize`` the way the kernel does for every action, after the
first call cached the decision: with nothing audited, and with every allowed action audited
(the entry is only buffered). Also the policy's cache alone, and a JWT (HS256) and an API key
authentication for scale; and the dangerous-command guard's ``Guard.check`` on a plain
command, a longer pipeline, an argument vector and a caught command (nothing is cached
there: each call tokenizes, normalises and matches). Prints nanoseconds per call; never
fails on a timing.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jwt
from alveary import Principal, structure
from alveary_security import Config, Guard, KeyStore, Security

N = 200_000
ROLES = {"submitter": {"allow": ["task.submit"], "capabilities": ["review", "lint"]}}


def per_call(fn: Callable[[], object], n: int = N) -> float:
    """Best of five runs, in nanoseconds per call."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


def main() -> None:
    sam = Principal("sam", frozenset({"submitter"}))
    with tempfile.TemporaryDirectory() as tmp:
        keys = str(Path(tmp) / "keys.json")
        key = KeyStore(keys).create("ci", "submitter")
        secret = "s" * 40
        quiet = Security(structure({"roles": ROLES, "audit_allowed": False}, Config))
        audited = Security(structure({"roles": ROLES, "audit_log": f"{tmp}/a.jsonl"}, Config))
        authn = Security(
            structure(
                {"roles": ROLES, "keys_file": keys, "jwt": {"secret_file": f"{tmp}/s"}}, Config
            )
        )
        Path(f"{tmp}/s").write_text(secret)
        asyncio.run(authn.alveary_startup(None))  # type: ignore[arg-type]  # reads keys, JWT
        token = jwt.encode({"sub": "sam", "roles": ["submitter"], "exp": 2**40}, secret)
        rows = {
            "policy cache hit (Policy.missing)": lambda: quiet.policy.missing(
                sam, "task.submit", "review"
            ),
            "alveary_authorize, cached, not audited": lambda: quiet.alveary_authorize(
                sam, "task.submit", "review"
            ),
            "alveary_authorize, cached, audited (buffered)": lambda: audited.alveary_authorize(
                sam, "task.submit", "review"
            ),
        }
        for name, fn in rows.items():
            print(f"{name:48} {per_call(fn):8.0f} ns")
            if audited.audit is not None:
                audited.audit.flush()
        auth_rows = {
            "alveary_authenticate, JWT HS256": {"authorization": f"Bearer {token}"},
            "alveary_authenticate, API key": {"x-api-key": key},
        }
        authn._requests.rate = 1e12  # measure verification, not the rate limit
        for name, creds in auth_rows.items():
            cost = per_call(lambda c=creds: authn.alveary_authenticate(c), 20_000)
            print(f"{name:48} {cost:8.0f} ns")

    guard = Guard.from_config()
    commands: dict[str, str | list[str]] = {
        "Guard.check, plain command (ls -la src)": "ls -la src",
        "Guard.check, pipeline (git log | grep | wc)": 'cd r && git log | grep "fix" | wc -l',
        "Guard.check, argv (pytest -q tests)": ["pytest", "-q", "tests"],
        "Guard.check, caught (sudo rm -rf /)": "sudo rm -rf /",
    }
    for name, command in commands.items():
        cost = per_call(lambda c=command: guard.check(c, workspace="/srv/ws"), 20_000)
        print(f"{name:48} {cost:8.0f} ns")


if __name__ == "__main__":
    main()
