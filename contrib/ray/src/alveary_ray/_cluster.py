"""Every call into Ray, behind precise types: the rest of the package never touches ``ray``.

Ray's calls that wait on the cluster (connecting, creating a named actor, killing one) run in
daemon threads of their own and are awaited, so an unresponsive cluster never stalls the
event loop, and a call that never returns cannot keep the process from exiting. Submitting a
call and awaiting its result are Ray's own non-blocking operations.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, NewType, TypeVar

from ._actor import AgentActor
from ._config import RayOptions

T = TypeVar("T")

Actor = NewType("Actor", object)
"""A Ray actor handle."""
Call = NewType("Call", object)
"""A Ray object reference: one call of an actor's method."""


def _ray() -> Any:
    # Ray is typed, but its typing costs more to check than this package: it is used as Any
    # here, and only here.
    return importlib.import_module("ray")


class Died(Exception):
    """The actor is gone (killed, its node or process lost): the agent is lost."""


class Failed(Exception):
    """The call failed in the actor without a Python exception to show (an unpicklable
    value or argument, an unreachable object)."""


def in_thread(fn: Callable[[], T], name: str) -> asyncio.Future[T]:
    """Run ``fn`` in a daemon thread; await its result without blocking the loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if not future.done():
            (future.set_result if ok else future.set_exception)(value)

    def work() -> None:
        try:
            outcome: tuple[bool, Any] = (True, fn())
        except BaseException as exc:  # delivered to the caller, never raised in the thread
            outcome = (False, exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


def connect(address: str | None, namespace: str) -> None:
    """Join the cluster at ``address`` (or start one in this process when it is None), unless
    this process is connected already. Ray leaves it (and stops a cluster it started) when
    the process exits."""
    ray = _ray()
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report over the network
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # do not ship the work tree
    ray.init(
        address=address,
        namespace=namespace,
        include_dashboard=False if address is None else None,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )


_remote: Any = None


def spawn(name: str, namespace: str, options: RayOptions, capacity: int) -> Actor:
    """Create the agent's actor (blocking: the cluster registers its name)."""
    global _remote
    ray = _ray()
    if _remote is None:
        _remote = ray.remote(AgentActor)
    settings: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "max_restarts": 0,  # a dead actor is a lost agent; its pool replaces it
        "max_task_retries": 0,  # the kernel retries tasks, wherever it sees fit
        "max_concurrency": capacity + 1,  # its tasks and the call that watches it
    }
    for key in ("num_cpus", "num_gpus", "memory", "runtime_env"):
        if getattr(options, key) is not None:
            settings[key] = getattr(options, key)
    if options.resources:
        settings["resources"] = dict(options.resources)
    return Actor(_remote.options(**settings).remote(options.handler))


def call(actor: Actor, method: str, *args: Any) -> Call:
    """Submit one call of the actor's ``method`` (does not wait for it)."""
    return Call(getattr(actor, method).remote(*args))


async def result(ref: Call) -> Any:
    """The call's value; the handler's own exception if it raised one, ``Died`` if the actor
    is gone, ``Failed`` otherwise."""
    exceptions = _ray().exceptions
    try:
        return await ref  # type: ignore[misc]
    except exceptions.RayActorError as exc:
        raise Died(_first_line(exc)) from None
    except exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception) and not isinstance(cause, exceptions.RayError):
            raise cause from None
        raise Failed(_first_line(exc)) from None
    except exceptions.TaskCancelledError:
        raise asyncio.CancelledError from None
    except exceptions.RayError as exc:
        raise Failed(_first_line(exc)) from None


def cancel(ref: Call) -> None:
    """Ask the actor to cancel the call (its coroutine, if it is running); does not wait."""
    with contextlib.suppress(Exception):  # the actor or the connection may be gone already
        _ray().cancel(ref)


def kill(actor: Actor) -> None:
    """End the actor now, whatever it is running; Ray does not restart it."""
    _ray().kill(actor, no_restart=True)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
