"""Write an agent that runs in its own process: a decorated function that speaks the agent
protocol (``docs/agent-protocol.md``) on its standard input and output.

::

    # reviewer.py
    from alveary.agent import agent

    @agent(capabilities={"review"}, capacity=2, version="1.0")
    async def review(job):
        job.log(f"reviewing {len(job.payload)} characters")
        return {"ok": "TODO" not in job.payload}

    if __name__ == "__main__":
        review.run()

Run it with ``python reviewer.py`` (or ``python -m alveary.agent reviewer:review``) under the
``subprocess`` or ``tmux`` runtime, or on another machine with
``python -m alveary.agent reviewer:review --connect ws://HOST:8787/v1/agents/connect``
(the gateway's ``remote`` runtime; ``pip install 'alveary[remote]'``). The handler gets a
``Job`` (``id``, ``kind``, ``payload``, ``attempt``, ``timeout``); what it returns (JSON-able)
is the task's value; an exception fails the attempt, ``alveary.PermanentFailure`` without
retries. Async handlers run on an event loop (in a thread of its own, started by the first
job) and are cancelled when the orchestrator cancels the task; plain functions run in worker
threads. Up to ``capacity`` jobs run at once. Importing this module loads no kernel
dependency and not even asyncio, so an agent process starts about as fast as Python itself.

The protocol owns the real standard output: ``run`` moves it aside and points file descriptor 1
at standard error, so a stray ``print`` (or a child process's output) lands in the agent's log
and never corrupts the channel. When ``ALVEARY_IN`` and ``ALVEARY_OUT`` name two FIFOs (the
``tmux`` runtime's ``fifo`` transport) the protocol uses those instead and leaves standard
input and output to the terminal.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

from . import wire
from ._serve import Channel, Job, Server

__all__ = ["PROTOCOL", "Job", "ProtocolAgent", "agent", "find", "load", "main", "serve"]

PROTOCOL = wire.PROTOCOL
"""The protocol version this library speaks (``hello.protocol``)."""

Handler = Callable[[Job], Any]
Metrics = Callable[[], Mapping[str, float]]


class ProtocolAgent:
    """A handler plus what its ``hello`` says about it; ``agent(...)`` makes one.

    Calling it calls the handler (handy in tests); ``run()`` serves the protocol until the
    orchestrator sends ``shutdown`` or closes the channel.
    """

    def __init__(
        self,
        fn: Handler,
        *,
        name: str | None = None,
        capabilities: Iterable[str] = (),
        capacity: int = 1,
        version: str = "",
        metrics: Metrics | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.fn = fn
        self.name = str(name or getattr(fn, "__name__", "agent"))
        self.capabilities = frozenset(
            [capabilities] if isinstance(capabilities, str) else capabilities
        )
        self.capacity = capacity
        self.version = version
        self.metrics = metrics
        self.is_async = _is_async(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, job: Job) -> Any:
        return self.fn(job)

    def hello(self) -> wire.Hello:
        """The ``hello`` message this agent opens the channel with."""
        return wire.Hello(
            PROTOCOL,
            os.environ.get("ALVEARY_AGENT") or self.name,
            self.capabilities or None,
            self.capacity,
            self.version,
        )

    def run(self) -> None:
        """Serve the protocol on this process's channel, then exit with its status."""
        sys.exit(serve(self))


@overload
def agent(fn: Handler, /) -> ProtocolAgent: ...


@overload
def agent(
    *,
    name: str | None = None,
    capabilities: Iterable[str] = (),
    capacity: int = 1,
    version: str = "",
    metrics: Metrics | None = None,
) -> Callable[[Handler], ProtocolAgent]: ...


def agent(
    fn: Handler | None = None,
    /,
    *,
    name: str | None = None,
    capabilities: Iterable[str] = (),
    capacity: int = 1,
    version: str = "",
    metrics: Metrics | None = None,
) -> ProtocolAgent | Callable[[Handler], ProtocolAgent]:
    """Make ``fn`` an agent: ``@agent`` or ``@agent(capabilities={...}, capacity=4)``.

    ``capabilities`` and ``capacity`` go into ``hello``; the pool's config must not ask for
    more. ``metrics`` returns extra numbers for each heartbeat (``{"context": 0.4}``); the
    heartbeat always carries ``load``, the share of ``capacity`` in use.
    """

    def wrap(handler: Handler) -> ProtocolAgent:
        return ProtocolAgent(
            handler,
            name=name,
            capabilities=capabilities,
            capacity=capacity,
            version=version,
            metrics=metrics,
        )

    return wrap(fn) if fn is not None else wrap


def serve(target: ProtocolAgent, inbox: int | None = None, outbox: int | None = None) -> int:
    """Speak the protocol for ``target`` until ``shutdown`` or end of input; return the exit
    status. Without arguments it opens the process's channel (see the module docstring);
    ``inbox`` and ``outbox`` (file descriptors) override it."""
    if inbox is None or outbox is None:
        inbox, outbox = _open_channel()
    return Server(target, Channel(outbox)).serve(inbox)


def _open_channel() -> tuple[int, int]:
    in_path, out_path = os.environ.get("ALVEARY_IN"), os.environ.get("ALVEARY_OUT")
    if in_path and out_path:
        return os.open(in_path, os.O_RDONLY), os.open(out_path, os.O_WRONLY)
    sys.stdout.flush()
    outbox = os.dup(1)
    os.dup2(2, 1)  # from now on fd 1 is stderr: stray output cannot corrupt the protocol
    return 0, outbox


def _is_async(fn: Any) -> bool:
    """Whether calling ``fn`` makes a coroutine (``inspect.iscoroutinefunction`` without
    importing ``inspect``): an ``async def`` function, method or partial of one."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


_CO_COROUTINE = 0x80


def find(name: str) -> Any:
    """The object ``"package.module:attribute"`` names (the attribute may be dotted);
    ``ValueError`` says why it cannot be imported."""
    module, sep, attribute = name.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"handler {name!r} should look like 'package.module:function'")
    try:
        target: Any = importlib.import_module(module)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import handler {name!r}: {exc}") from None
    return target


def load(name: str) -> ProtocolAgent:
    """The agent ``name`` (``"package.module:function"``) names: a decorated function as it
    is, a plain one as an agent with default settings; ``ValueError`` says why not."""
    target = find(name)
    if isinstance(target, ProtocolAgent):
        return target
    if not callable(target):
        raise ValueError(f"handler {name!r} is not callable")
    return ProtocolAgent(target)


def main(argv: list[str] | None = None) -> int:
    """``python -m alveary.agent module:attribute [--connect URL]``: serve a decorated
    function (or a plain function, as an agent with default settings) on this process's
    channel, or to a remote orchestrator's gateway over a WebSocket."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    if args is None:
        print(
            "usage: python -m alveary.agent package.module:function "
            "[--connect ws://HOST:PORT/v1/agents/connect [--token TOKEN] [--retry-max S]]",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, os.getcwd())
    try:
        target = load(args["target"])
    except ValueError as exc:
        print(f"alveary.agent: {exc}", file=sys.stderr)
        return 2
    if "connect" not in args:
        return serve(target)
    from ._connect import connect

    token = args.get("token") or os.environ.get("ALVEARY_TOKEN") or None
    return connect(target, args["connect"], token, float(args.get("retry-max", 30)))


def _arguments(argv: list[str]) -> dict[str, str] | None:
    """``target`` and the ``--option value`` pairs, or None if the line is not one (parsed by
    hand: argparse costs an agent more start-up time than the rest of this module)."""
    found: dict[str, str] = {}
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        option, eq, value = arg.partition("=")
        if option in ("--connect", "--token", "--retry-max"):
            if not eq:
                if not rest:
                    return None
                value = rest.pop(0)
            found[option[2:]] = value
        elif arg.startswith("-") or "target" in found or ":" not in arg:
            return None
        else:
            found["target"] = arg
    if "target" not in found or not _positive(found.get("retry-max", "30")):
        return None
    return found


def _positive(text: str) -> bool:
    try:
        return 0 < float(text) < float("inf")
    except ValueError:
        return False


if __name__ == "__main__":  # pragma: no cover - python -m alveary.agent
    from alveary.agent import main as _main  # the importable module, not __main__

    sys.exit(_main())
