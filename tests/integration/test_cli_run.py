"""From nothing to a running orchestrator, through the command line only: ``alveary init``,
``alveary run`` as a real process, the client driving it, SIGTERM, and a restart on the same
SQLite records that finds every task finished."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

LOG_AS_JSON = ("--log-level", "info", "--log-format", "json")
"""What makes ``alveary run`` log the gateway's URL (``listen`` asks for any free port)."""

TERMINAL = {"succeeded", "failed", "cancelled", "dead"}

AGENTS = """
import asyncio


async def sleepy(task):
    await asyncio.sleep(task.payload)
    return task.payload
"""

SLEEPERS = """
[[pools]]
name = "sleepers"
runtime = "local"
size = { min = 1 }
capabilities = ["sleep"]
options = { handler = "agents:sleepy" }
"""


def alveary(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "alveary", *argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


class Running:
    """``alveary run`` in its own process, its log in a file, its API's URL read from it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log = folder / f"run-{time.monotonic_ns()}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alveary", *LOG_AS_JSON, "run"],
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = self.log.read_text()
            found = re.search(r'"url": "(http://127\.0\.0\.1:\d+)"', text)
            if found and "alveary: running with" in text:
                return found[1]
            assert self.process.poll() is None, text
            time.sleep(0.1)
        raise AssertionError(f"alveary run did not start:\n{self.log.read_text()}")

    def cli(self, *argv: str) -> tuple[int, str, str]:
        return alveary(*argv, cwd=self.folder, env={"ALVEARY_URL": self.url})

    def tasks(self) -> list[dict[str, Any]]:
        status, out, err = self.cli("tasks", "--json")
        assert status == 0, err
        records: list[dict[str, Any]] = json.loads(out)
        return records

    def stop(self) -> str:
        """SIGTERM, as a service manager stops it; its log."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(120) == 0, self.log.read_text()
        return self.log.read_text()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A new project: ``alveary init`` with no CLI tool on PATH, then listening on any free
    port and with a pool of slow agents added."""
    empty = tmp_path / "bin"
    empty.mkdir()
    status, out, err = alveary("init", cwd=tmp_path, env={"PATH": str(empty)})
    assert (status, err) == (0, ""), err
    assert out.startswith("wrote alveary.toml (plugins: state, gateway; 1 pool)")
    config = tmp_path / "alveary.toml"
    text = config.read_text()
    assert 'listen = "127.0.0.1:8787"' in text
    config.write_text(text.replace("127.0.0.1:8787", "127.0.0.1:0") + SLEEPERS)
    (tmp_path / "agents.py").write_text(AGENTS)
    assert alveary("check", cwd=tmp_path)[0] == 0
    return tmp_path


def test_init_run_drive_stop_and_every_task_is_finished(folder: Path) -> None:
    running = Running(folder)
    try:
        payload = {"q": 'it\'s "$(id)"', "flag": "--rm"}
        status, out, err = running.cli(
            "submit", "echo", "--payload", json.dumps(payload), "--requires", "echo", "--wait"
        )
        assert (status, err) == (0, "")
        assert json.loads(out) == payload
        quick = [
            running.cli("submit", "echo", "--payload", str(i), "--requires", "echo")[1].strip()
            for i in range(5)
        ]
        status, long, _ = running.cli("submit", "sleep", "--payload", "3600", "--requires", "sleep")
        long = long.strip()
        _until(lambda: json.loads(running.cli("task", long, "--json")[1])["state"] == "running")

        status, shown, _ = running.cli("status")
        assert status == 0
        assert {"local", "sleepers", "local-1", "sleepers-1"} <= set(shown.split())
        assert shown.rstrip().splitlines()[-1].endswith(", 1 running")

        assert running.cli("cancel", long) == (0, f"cancelled {long}\n", "")
        _until(lambda: all(t["state"] in TERMINAL for t in running.tasks()))
        before = {t["id"]: t["state"] for t in running.tasks()}
        assert set(quick) | {long} <= set(before)
        assert before[long] == "cancelled"
        assert all(before[i] == "succeeded" for i in quick)
        log = running.stop()
    finally:
        if running.process.poll() is None:
            running.process.kill()
    assert re.search(r"^alveary: stopped; tasks: \d+ succeeded, 1 cancelled$", log, re.MULTILINE)

    again = Running(folder)  # the same alveary.db
    try:
        after = {t["id"]: t["state"] for t in again.tasks()}
        assert after == before
        status, out, err = again.cli("task", "no-such-task")
        assert (status, out) == (1, "")
        assert err == "alveary task: not_found: no task 'no-such-task'\n"
        status, _, _ = again.cli("submit", "x", "--requires", "nobody-has-this")
        assert status == 0
        log = again.stop()
    finally:
        if again.process.poll() is None:
            again.process.kill()
    assert re.search(
        r"^alveary: stopped; tasks: 1 queued "
        r"\(the unfinished kept in alveary\.db for the next run\)$",
        log,
        re.MULTILINE,
    ), log
    status, out, err = alveary("status", cwd=folder, env={"ALVEARY_URL": again.url})
    assert (status, err) == (1, f"alveary status: cannot reach {again.url}: connection refused\n")


def test_init_adds_a_pool_for_each_tool_found_on_path(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "ruff"
    fake.write_text("#!/bin/sh\necho 'ruff 9.9.9'\n")
    fake.chmod(0o755)
    status, out, _ = alveary("init", cwd=tmp_path, env={"PATH": str(tools)})
    assert status == 0
    assert out.startswith("wrote alveary.toml (plugins: state, gateway, subprocess; 2 pools)")
    text = (tmp_path / "alveary.toml").read_text()
    assert f"ruff 9.9.9 ({fake})" in text
    assert alveary("check", cwd=tmp_path)[0] == 0


def _until(done: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


async def test_the_token_is_sent_and_a_wrong_one_is_the_servers_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from alveary import Orchestrator
    from alveary_gateway import cli

    monkeypatch.setenv("CLI_TEST_SECRET", SECRET)
    security = {
        "audit_log": str(tmp_path / "audit.jsonl"),
        "jwt": {"secret_env": "CLI_TEST_SECRET", "audience": "alveary"},
        "roles": {"reader": {"allow": ["task.read", "agent.read", "pool.read"]}},
    }
    config = {
        "plugins": {
            "enabled": ["gateway", "security"],
            "gateway": {"listen": "127.0.0.1:0"},
            "security": security,
        }
    }
    orch = Orchestrator.from_config(config)
    async with orch:
        gateway: Any = orch.plugins["gateway"]
        url = gateway.url
        monkeypatch.setenv("ALVEARY_URL", url)
        for token, status, says in [
            (None, 1, "alveary status: unauthenticated: "),
            ("not-a-token", 1, "alveary status: unauthenticated: "),
            (_token(["reader"]), 0, f"{url}: ready"),
        ]:
            argv = [] if token is None else ["--token", token]
            assert await asyncio.to_thread(cli.status_command, argv) == status
            out, err = capsys.readouterr()
            assert (out if status == 0 else err).startswith(says), err
        monkeypatch.setenv("ALVEARY_TOKEN", _token(["reader"]))
        assert await asyncio.to_thread(cli.agents_list_command, []) == 0
        assert await asyncio.to_thread(cli.submit_command, ["echo"]) == 1
        assert capsys.readouterr().err.startswith("alveary submit: forbidden: ")
    await gateway.server.closed  # the listening socket is closed, not left to the collector


SECRET = "s" * 40


def _token(roles: list[str]) -> str:
    import jwt

    now = int(time.time())
    claims = {"sub": "cli", "roles": roles, "aud": "alveary", "exp": now + 600, "iat": now}
    return jwt.encode(claims, SECRET, algorithm="HS256")
