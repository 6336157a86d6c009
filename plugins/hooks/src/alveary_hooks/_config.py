"""``[plugins.hooks]``: shell hooks, quality gates and webhooks, checked strictly.

Every mistake is one line naming its key (``plugins.hooks.commands[0].mode: 'sync' is not one
of background, blocking, critical``); numbers refuse ``nan`` and infinities.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

import attrs
from alveary import FieldError
from alveary.validators import count, non_negative, positive, rate
from alveary_subprocess.options import DEFAULT_ENV_ALLOW

MODES = ("background", "blocking", "critical")
POINTS = ("task.before", "task.after")
"""Where blocking and critical hooks run: before an attempt, and after it ran to an end."""
SAMPLING = ("none", "random", "rate", "adaptive")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCALAR = (str, int, float, bool)


def _one_of(choices: Sequence[str]) -> Callable[[object, attrs.Attribute[Any], str], None]:
    def check(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            raise FieldError(attribute.name, f"{value!r} is not one of {', '.join(choices)}")

    return check


def _argv(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value or not value[0]:
        raise FieldError(attribute.name, "expected a program and its arguments, got nothing")
    if any("\0" in arg for arg in value):
        raise FieldError(attribute.name, "an argument contains a NUL character")


def _patterns(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value or not all(value):
        raise FieldError(attribute.name, "expected event types (such as 'task.failed', 'task.*')")


def _env(instance: object, attribute: attrs.Attribute[Any], value: dict[str, str]) -> None:
    for name, text in value.items():
        if not _ENV_NAME.fullmatch(name) or "\0" in text:
            raise FieldError(attribute.name, f"{name!r} is not a valid environment variable")


def _env_names(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    names = (value,) if isinstance(value, str) else value
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise FieldError(attribute.name, f"{name!r} is not a valid environment variable name")


def _match(instance: object, attribute: attrs.Attribute[Any], value: dict[str, Any]) -> None:
    for key, wanted in value.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if not key or not options or not all(_plain(option) for option in options):
            raise FieldError(
                attribute.name,
                f"{key!r}: expected a string, number or true/false, or a list of them",
            )


def _plain(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, _SCALAR)


def _url(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError(attribute.name, f"expected an http:// or https:// URL, got {value!r}")


def _program(instance: Any) -> str:
    return PurePath(instance.command[0]).name if instance.command else ""


def _points(instance: Command, attribute: attrs.Attribute[Any], value: str) -> None:
    _one_of(MODES)(instance, attribute, value)
    points = [event for event in instance.on if event in POINTS]
    if value == "background" and points:
        raise FieldError(
            "on",
            f"{points[0]!r} holds the attempt: only blocking and critical hooks run there "
            "(a background hook can follow 'task.running' or 'task.succeeded')",
        )
    others = [event for event in instance.on if event not in POINTS]
    if value != "background" and others:
        raise FieldError(
            "on",
            f"a {value} hook runs at 'task.before' or 'task.after' (the attempt waits for it), "
            f"not at {others[0]!r}",
        )


@attrs.frozen
class Command:
    """``[[plugins.hooks.commands]]``: a program run when events it is bound to happen."""

    command: tuple[str, ...] = attrs.field(validator=_argv)
    """The program and its arguments, run without a shell; the event reaches it on standard
    input (JSON) and as ``ALVEARY_*`` variables, never inside its arguments."""
    on: tuple[str, ...] = attrs.field(validator=_patterns)
    """Event types, ``*`` a wildcard (``task.*``); ``task.before``/``task.after`` for the
    blocking and critical modes."""
    name: str = attrs.field(default=attrs.Factory(_program, takes_self=True))
    """What events and counters call it (default: the program's file name)."""
    match: dict[str, Any] = attrs.field(factory=dict, validator=_match)
    """Fields the event must have: ``{kind = "review"}``; a list means any of its values."""
    mode: str = attrs.field(default="background", validator=_points)
    timeout: float = attrs.field(default=30.0, validator=positive)
    retries: int = attrs.field(default=0, validator=non_negative)
    env: dict[str, str] = attrs.field(factory=dict, validator=_env)
    cwd: str | None = None
    max_output: int = attrs.field(default=2**20, validator=positive)


@attrs.frozen
class Gate:
    """``[[plugins.hooks.gates]]``: a check run after an attempt succeeds."""

    command: tuple[str, ...] = attrs.field(validator=_argv)
    name: str = attrs.field(default=attrs.Factory(_program, takes_self=True))
    match: dict[str, Any] = attrs.field(factory=dict, validator=_match)
    """Which tasks it checks (default: all)."""
    required: bool = True
    """A failing required gate fails the attempt; the others only lower the score."""
    retry: bool = True
    """Whether an attempt failed by this gate is tried again (while attempts remain)."""
    timeout: float = attrs.field(default=600.0, validator=positive)
    env: dict[str, str] = attrs.field(factory=dict, validator=_env)
    cwd: str | None = None
    """Relative to the agent's workspace when it has one."""
    max_output: int = attrs.field(default=2**20, validator=positive)


@attrs.frozen
class Webhook:
    """``[[plugins.hooks.webhooks]]``: events POSTed as JSON to a URL, signed, in order."""

    url: str = attrs.field(validator=_url)
    on: tuple[str, ...] = attrs.field(validator=_patterns)
    name: str = attrs.field(
        default=attrs.Factory(lambda self: urlsplit(self.url).hostname or "", takes_self=True)
    )
    match: dict[str, Any] = attrs.field(factory=dict, validator=_match)
    secret_env: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_env_names)
    )
    """The variable holding the HMAC-SHA256 key; it must be set when the plugin starts."""
    timeout: float = attrs.field(default=10.0, validator=positive)
    retries: int = attrs.field(default=5, validator=non_negative)
    backoff: float = attrs.field(default=0.5, validator=positive)
    """The first retry's delay; each next one doubles, up to ``backoff_max``."""
    backoff_max: float = attrs.field(default=30.0, validator=positive)
    queue: int = attrs.field(default=1000, validator=count)
    """Events waiting to be sent at most; more are dropped and counted."""
    batch: int = attrs.field(default=1, validator=count)
    """Events per request: more than 1 sends a JSON array of up to this many."""
    flush: float = attrs.field(default=1.0, validator=positive)
    """How long a partial batch waits for more events."""
    sample: str = attrs.field(default="none", validator=_one_of(SAMPLING))
    sample_rate: float = attrs.field(default=1.0, validator=rate)
    """With ``sample = "random"``: the share of events kept; with ``"adaptive"``, the share
    kept once the queue is full (below 1)."""
    max_rate: float = attrs.field(default=100.0, validator=positive)
    """With ``sample = "rate"``: events per second kept at most (bursts of as many)."""
    dead_letter: str | None = None
    """A JSON-lines file for the events that could not be delivered."""

    def __attrs_post_init__(self) -> None:
        if self.sample == "adaptive" and self.sample_rate >= 1:
            raise FieldError(
                "sample_rate",
                'with sample = "adaptive", expected the share kept at a full queue, below 1',
            )


def _unique(instance: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    seen: set[str] = set()
    for index, item in enumerate(value):
        if item.name in seen:
            raise FieldError(
                attribute.name,
                f"[{index}]: the name {item.name!r} is taken: give each a name of its own",
            )
        seen.add(item.name)


@attrs.frozen
class Config:
    """Shell hooks, quality gates and webhooks, and the limits they share."""

    commands: tuple[Command, ...] = attrs.field(default=(), validator=_unique)
    gates: tuple[Gate, ...] = attrs.field(default=(), validator=_unique)
    webhooks: tuple[Webhook, ...] = attrs.field(default=(), validator=_unique)
    queue: int = attrs.field(default=1000, validator=count)
    """Background runs waiting at most; more are dropped and counted."""
    workers: int = attrs.field(default=4, validator=count)
    """Background commands running at once."""
    env_allow: tuple[str, ...] = attrs.field(default=DEFAULT_ENV_ALLOW, validator=_env_names)
    """Variables of the orchestrator's environment that commands see."""
    grace: float = attrs.field(default=2.0, validator=non_negative)
    """Between SIGTERM and SIGKILL of a command's process group, at its timeout."""
    stats_interval: float = attrs.field(default=60.0, validator=positive)
    """How often a ``hook.stats`` event reports the counters (when they changed)."""
