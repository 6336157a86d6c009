"""Processes: the environment an agent gets, resource limits, and killing a whole process
group (the agent and everything it started) politely, then surely."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import alveary
import attrs
from alveary.wire import PROTOCOL

from .options import Limits, ProcessOptions


def build_env(
    options: ProcessOptions,
    agent: alveary.Agent,
    extra: Mapping[str, str] | None = None,
    *,
    heartbeat: float = 5.0,
) -> dict[str, str]:
    """The agent's whole environment: the allowed variables of the orchestrator's, the
    configured ones, the secrets, and ``ALVEARY_*`` (agent name and id, protocol version,
    heartbeat interval: ``options.heartbeat``, else ``heartbeat``; ``max_line``). Raises
    ``ValueError`` naming a secret that is not set."""
    env = {name: os.environ[name] for name in options.env_allow if name in os.environ}
    env.update(options.env)
    missing = [name for name in options.secrets if name not in os.environ]
    if missing:
        raise ValueError(
            f"secret {', '.join(missing)} is not set in the orchestrator's environment"
        )
    env.update({name: os.environ[name] for name in options.secrets})
    interval = heartbeat if options.heartbeat is None else options.heartbeat
    env.update(
        ALVEARY_AGENT=agent.name,
        ALVEARY_AGENT_ID=agent.id,
        ALVEARY_PROTOCOL=str(PROTOCOL),
        ALVEARY_HEARTBEAT=f"{interval:g}",
        ALVEARY_MAX_LINE=str(options.max_line),
    )
    env.update(extra or {})
    return env


def secret_values(options: ProcessOptions) -> list[str]:
    """The values to mask in everything captured from the agent."""
    return [os.environ[name] for name in options.secrets if os.environ.get(name)]


def limiter(limits: Limits) -> Callable[[], None] | None:
    """A function that applies ``limits`` in the child before it runs the program, or None
    when there are none (so the fast spawn path stays available)."""
    if all(getattr(limits, name) is None for name in ("cpu", "memory", "files", "file_size")):
        return None
    import resource  # POSIX only; options reject limits elsewhere

    pairs = [
        (resource.RLIMIT_CPU, limits.cpu),
        (resource.RLIMIT_AS, limits.memory),
        (resource.RLIMIT_NOFILE, limits.files),
        (resource.RLIMIT_FSIZE, limits.file_size),
    ]
    chosen = [(which, value) for which, value in pairs if value is not None]

    def apply() -> None:
        for which, value in chosen:
            resource.setrlimit(which, (value, value))

    return apply


def describe_exit(code: int | None) -> str:
    """``exited with code 3`` or ``was killed by SIGKILL``."""
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


async def run_command(
    argv: Sequence[str], env: Mapping[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    """Run a short command to its end (``git``, ``tmux``): its exit status, standard output
    and standard error; no input. It runs in a session of its own, so that, cancelled, it is
    killed with everything it started (hooks, helpers) and waited for: it never outlives its
    caller."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=None if env is None else dict(env),
        start_new_session=True,
    )
    try:
        out, err = await process.communicate()
    except BaseException:  # the caller gave up (cancelled): so does the command
        signal_group(process.pid, signal.SIGKILL)
        await asyncio.shield(process.wait())
        raise
    return await process.wait(), out, err


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False if no process is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a reused id that is not ours
        return False
    return True


_CANNOT_RUN = {
    errno.ENOENT: "no such program (looked up on the agent's PATH)",
    errno.ENOTDIR: "no such program",
    errno.EACCES: "permission denied (not an executable file)",
    errno.EPERM: "operation not permitted",
    errno.ENOEXEC: "not an executable format",
    errno.ENAMETOOLONG: "its name is too long",
    errno.ELOOP: "too many symbolic links",
    errno.E2BIG: (
        "its arguments and environment are too long for the system (E2BIG; {size} bytes of "
        "arguments; Linux also refuses any one argument over 128 KiB): pass large values on "
        "standard input (stdin)"
    ),
}
"""Why a program cannot run, for the errors that the same attempt would meet again."""


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The standard stream protocol, plus a future that resolves as soon as the process
    exits. (``Process.wait()`` also waits for its pipes to close, which never happens while
    a grandchild holds them.) ``on_exit`` is told in the same step, so whoever routes work
    learns of the exit no later than ``Child.returncode`` shows it."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_exit: Callable[[int], None] | None = None
    ) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.exited: asyncio.Future[int] = loop.create_future()
        self.transport: asyncio.SubprocessTransport | None = None
        self._on_exit = on_exit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport

    def process_exited(self) -> None:
        super().process_exited()
        assert self.transport is not None
        code = self.transport.get_returncode()
        if not self.exited.done() and code is not None:
            self.exited.set_result(code)
            if self._on_exit is not None:
                self._on_exit(code)


@attrs.define(eq=False)
class Child:
    """A process started in its own process group (``start_new_session``), with its
    standard streams (``process``) and ``exited``, the future of its exit status."""

    process: asyncio.subprocess.Process
    transport: asyncio.SubprocessTransport
    exited: asyncio.Future[int]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.exited.result() if self.exited.done() else None

    async def wait(self) -> int:
        """Its exit status, once it exits (cancelling the wait leaves ``exited`` alone)."""
        return await asyncio.shield(self.exited)

    def close(self) -> None:
        """Release the pipes (once the process is gone)."""
        self.transport.close()


async def spawn(
    argv: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    limits: Limits | None = None,
    stdin: int = asyncio.subprocess.PIPE,
    on_exit: Callable[[int], None] | None = None,
) -> Child:
    """Start ``argv`` in a new session (so it leads its own process group) with piped
    standard output and error, and standard input piped (or ``stdin``); ``on_exit(status)``
    is called the moment its exit is known.

    Raises ``alveary.PermanentFailure`` when the program cannot run and trying again would
    not help (it is missing, not executable, or its arguments are too long)."""
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.subprocess_exec(
            lambda: _Protocol(loop, on_exit),
            *argv,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            preexec_fn=limiter(limits) if limits is not None else None,
        )
    except OSError as exc:
        reason = _CANNOT_RUN.get(exc.errno or 0)
        if reason is None:
            raise  # fork failing for want of memory or processes: it may work next time
        if exc.errno == errno.ENOENT and os.sep in argv[0]:
            reason = "no such file"
        if cwd is not None and exc.filename is not None and str(exc.filename) == str(cwd):
            reason = f"its working directory {str(cwd)!r}: {exc.strerror}"
        elif exc.errno == errno.E2BIG:
            size = sum(len(arg.encode()) + 1 for arg in argv)
            reason = reason.format(size=size)
        raise alveary.PermanentFailure(f"cannot run {argv[0]!r}: {reason}") from None
    return Child(asyncio.subprocess.Process(transport, protocol, loop), transport, protocol.exited)


async def stop_group(child: Child, grace: float) -> int:
    """SIGTERM the child's process group, wait up to ``grace`` seconds for the child to
    exit, then SIGKILL whatever is left of the group (always, so grandchildren go too).
    Returns the child's exit status."""
    if not child.exited.done() and signal_group(child.pid, signal.SIGTERM):
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(child.wait(), grace)
    signal_group(child.pid, signal.SIGKILL)
    return await child.wait()


def write_to(child: Child) -> Callable[[bytes], None]:
    """A ``send`` function for a ``Connection`` over the child's standard input."""

    def send(data: bytes) -> None:
        stdin = child.process.stdin
        if child.returncode is not None:
            raise BrokenPipeError(f"the process {describe_exit(child.returncode)}")
        if stdin is None or stdin.is_closing():
            raise BrokenPipeError("its standard input is closed")
        stdin.write(data)

    return send


async def feed_stdin(child: Child, data: bytes) -> None:
    """Write ``data`` to the child's standard input and close it; a child that exits or
    closes its input first just does not get the rest."""
    pipe = child.process.stdin
    assert pipe is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        pipe.write(data)
        await pipe.drain()
        pipe.close()
