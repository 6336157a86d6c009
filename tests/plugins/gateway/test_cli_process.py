"""The command-line client as a user runs it: ``python -m alveary ...`` in its own process,
arguments passed without a shell, against a real gateway."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from typing import Any

import pytest

from .conftest import Served


async def alveary(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alveary",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_submit_and_wait_through_a_real_argv(served: Served) -> None:
    payload: Any = {"q": 'it\'s "$(id)"', "flag": "--rm", "n": -1}
    status, out, err = await alveary(
        "submit",
        "--url",
        served.gateway.url,
        "echo",
        "--payload",
        json.dumps(payload),
        "--requires",
        "echo",
        "--wait",
    )
    assert (status, err) == (0, "")
    assert json.loads(out) == payload


async def test_the_url_comes_from_the_environment(served: Served) -> None:
    status, out, err = await alveary("agents", "list", env={"ALVEARY_URL": served.gateway.url})
    assert (status, err) == (0, "")
    assert "echoer" in out


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["task", "nope"], 1, "alveary task: not_found: no task 'nope'"),
        (["submit", "echo", "--payload", "{'single': 1}"], 2, "argument --payload: not JSON"),
        (["tasks", "--limit", "nan"], 2, "argument --limit: expected an integer >= 1"),
    ],
)
async def test_errors_end_in_one_line_and_a_status_never_a_traceback(
    served: Served, argv: list[str], status: int, says: str
) -> None:
    done, out, err = await alveary(*argv, env={"ALVEARY_URL": served.gateway.url})
    assert (done, out) == (status, "")
    assert "Traceback" not in err
    assert says in err.splitlines()[-1]


@pytest.fixture
def unused_url() -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_a_server_that_is_gone_is_one_line(unused_url: str) -> None:
    status, out, err = await alveary("status", "--url", unused_url)
    assert (status, out) == (1, "")
    assert err == f"alveary status: cannot reach {unused_url}: connection refused\n"


AT_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'alveary'; runpy.run_module('alveary', run_name='__main__', alter_sys=True)"
)
"""``python -m alveary`` as a terminal's foreground job gets it: with SIGINT at its default.
A test runner started as a background job has SIGINT ignored, and a child inherits that
(and, rightly, keeps ignoring Ctrl-C)."""


@pytest.mark.parametrize(
    "argv",
    [["events", "--follow"], ["submit", "hang", "--requires", "hang", "--wait"]],
    ids=["events --follow", "submit --wait"],
)
async def test_ctrl_c_while_following_or_waiting_exits_130_quietly(
    served: Served, argv: list[str]
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        AT_A_TERMINAL,
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ALVEARY_URL": served.gateway.url},
    )
    if argv[0] == "events":
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), 60)  # the replay is printing
    else:
        await _until_running(served)
    process.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 130
    assert err == b""


async def _until_running(served: Served) -> None:
    """Until the ``hang`` task the command submitted runs: the command is waiting for it."""
    for _ in range(600):
        if any(t.spec.kind == "hang" and not t.state.terminal for t in served.orch.tasks()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the task was never submitted")
