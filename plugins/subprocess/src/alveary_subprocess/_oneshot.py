"""One-shot mode: run a tool once per task and turn its exit status and output into the
task's outcome."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import alveary

from .logs import AgentLog
from .options import SubprocessOptions
from .process import describe_exit, feed_stdin, signal_group, spawn, stop_group
from .template import TemplateError, render, render_argv, render_shell, task_fields

_SHELL_CANNOT_RUN = {126: "a command is not executable", 127: "a command was not found"}
"""Exit statuses by which ``/bin/sh`` says it could not run a command: running the same
line again would fail the same way."""


class ToolFailed(alveary.AlvearyError):
    """The tool exited with a status that is not in ``ok_exit``, wrote too much, or printed
    something ``output`` could not parse."""


def command_for(
    options: SubprocessOptions, agent: alveary.Agent, task: alveary.Task, workspace: Path | None
) -> tuple[list[str], bytes | None]:
    """The argument vector and standard input for ``task``; a payload that cannot fill the
    template fails the task at once (``PermanentFailure``): retrying would not help."""
    values = task_fields(
        task.payload,
        task_id=task.id,
        kind=task.kind,
        attempt=task.attempts,
        agent=agent.name,
        workspace=str(workspace or Path.cwd()),
    )
    try:
        if options.shell is not None:
            script, args = render_shell(options.shell, values)
            argv = ["/bin/sh", "-c", script, "sh", *args]
        else:
            argv = render_argv(options.template, values)
        stdin = None if options.stdin is None else render(options.stdin, values).encode()
    except TemplateError as exc:
        raise alveary.PermanentFailure(str(exc)) from None
    return argv, stdin


async def run_once(
    options: SubprocessOptions,
    argv: list[str],
    stdin: bytes | None,
    *,
    cwd: Path | None,
    env: dict[str, str],
    agent_log: AgentLog,
    label: str,
) -> dict[str, Any]:
    """Run ``argv`` in its own process group and return ``{"exit", "stdout", "stderr"}``.

    Cancelling this (a timeout, a cancelled task, a lost agent) SIGTERMs the group, waits
    ``options.grace`` and SIGKILLs what is left. Output beyond ``options.max_output`` kills
    the group at once and fails the run.
    """
    started = time.monotonic()
    child = await spawn(
        argv,
        cwd=cwd,
        env=env,
        limits=options.limits,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
    )
    process = child.process
    captured = {"stdout": bytearray(), "stderr": bytearray()}
    overflow: list[str] = []

    async def capture(stream: asyncio.StreamReader | None, name: str) -> None:
        data = captured[name]
        while stream is not None:
            chunk = await stream.read(65536)
            if not chunk:
                return
            if overflow:
                continue  # killed already: drain what is left
            if len(data) + len(chunk) > options.max_output:
                overflow.append(name)
                signal_group(child.pid, signal.SIGKILL)
                continue
            data += chunk

    chores = [
        asyncio.ensure_future(capture(process.stdout, "stdout")),
        asyncio.ensure_future(capture(process.stderr, "stderr")),
    ]
    if stdin is not None:
        chores.append(asyncio.ensure_future(feed_stdin(child, stdin)))
    try:
        code = await child.wait()
        signal_group(child.pid, signal.SIGKILL)  # the tool is done: so is its process group
        # Read what is left, unless a grandchild left the group and holds the pipes open.
        await asyncio.wait(chores[:2], timeout=max(options.grace, 1.0))
    except asyncio.CancelledError:
        await stop_group(child, options.grace)
        agent_log.note(f"{label}: cancelled; process group stopped")
        raise
    finally:
        for chore in chores:
            chore.cancel()
        await asyncio.gather(*chores, return_exceptions=True)
        child.close()
    out, err = bytes(captured["stdout"]), bytes(captured["stderr"])
    stdout = agent_log.mask(out.decode(errors="replace"))
    stderr = agent_log.mask(err.decode(errors="replace"))
    took = time.monotonic() - started
    agent_log.note(f"{label}: {argv[0]} {describe_exit(code)} after {took:.2f} s")
    if err:
        agent_log.write(err if err.endswith(b"\n") else err + b"\n")
    if overflow:
        raise ToolFailed(
            f"{argv[0]} wrote more than max_output ({options.max_output} bytes) to "
            f"{overflow[0]}; its process group was killed"
        )
    if code not in options.ok_exit:
        last = stderr.strip().splitlines()[-3:] or stdout.strip().splitlines()[-3:]
        detail = f": {' | '.join(last)[:500]}" if last else ""
        if options.shell is not None and code in _SHELL_CANNOT_RUN:
            raise alveary.PermanentFailure(
                f"{argv[0]} {describe_exit(code)} ({_SHELL_CANNOT_RUN[code]}){detail}"
            )
        raise ToolFailed(f"{argv[0]} {describe_exit(code)}{detail}")
    value: dict[str, Any] = {"exit": code, "stdout": stdout, "stderr": stderr}
    if options.output == "json":
        try:
            value["stdout"] = json.loads(stdout)
        except ValueError as exc:
            raise ToolFailed(f"{argv[0]} printed something that is not JSON: {exc}") from None
    return value
