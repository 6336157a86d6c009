"""``[plugins.container]`` (the plugin's settings) and each container pool's ``options``."""

from __future__ import annotations

import re
from typing import Any

import attrs
from alveary.validators import non_negative, positive
from alveary_subprocess import ProcessOptions
from attrs.validators import optional

_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_ULIMITS = frozenset({"nofile", "nproc", "core", "memlock", "stack", "fsize", "cpu", "as"})


def _owner(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _OWNER.fullmatch(value):
        raise ValueError(f"{attribute.name}: {value!r}: use letters, digits and _ . - only")


def _absolute(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.startswith("/") or "\0" in value:
        raise ValueError(f"{attribute.name}: {value!r} is not an absolute path")


@attrs.frozen
class Config:
    """How the ``container`` runtime reaches its engine and keeps its agents' logs. Times in
    seconds, sizes in bytes."""

    engine: str = ""
    """The Docker Engine API address: ``unix:///run/podman/podman.sock``,
    ``tcp://host:2375`` ("": ``DOCKER_HOST``, else the engine's default socket)."""
    owner: str = attrs.field(default="alveary", validator=_owner)
    """Marks this orchestrator's containers (label ``io.alveary.owner``): at start-up, the
    containers of this owner that an earlier run left are removed. Orchestrators sharing an
    engine need different owners."""
    log_dir: str = ".alveary/logs"
    """Where ``<agent name>.log`` files go."""
    log_max_bytes: int = attrs.field(default=10 * 2**20, validator=positive)
    """An agent's log rotates (to ``.log.1``) past this size."""
    max_starting: int = attrs.field(default=0, validator=non_negative)
    """Agents starting at once (0: four per CPU)."""
    max_bad_lines: int = attrs.field(default=100, validator=positive)
    """Malformed protocol lines in a row after which an agent is failed and replaced."""
    cancel_grace: float = attrs.field(default=5.0, validator=positive)
    """How long an agent has to answer a ``cancel`` before it counts as hung and is killed."""
    api_timeout: float = attrs.field(default=60.0, validator=positive)
    """How long one call to the engine may take."""


@attrs.frozen
class Source:
    """A host directory mounted read-only into the container."""

    source: str = attrs.field(validator=_absolute)
    """The host path."""
    target: str = attrs.field(validator=_absolute)
    """Where it appears in the container."""


@attrs.frozen
class ContainerOptions(ProcessOptions):
    """A container pool's ``options``: those of every out-of-process agent
    (``alveary_subprocess.ProcessOptions``: ``command``, ``workspace``, ``worktree``,
    ``env``, ``secrets``, timeouts), and the container's image, limits, mounts and network.
    ``command`` runs in the container as given (no ``{python}``); empty, the image's own."""

    image: str = ""
    """The image (present on the engine: nothing is pulled)."""
    memory: int | None = attrs.field(default=None, validator=optional(positive))
    """Bytes of memory (and swap) the container may use."""
    cpus: float | None = attrs.field(default=None, validator=optional(positive))
    """CPUs the container may use (``1.5``)."""
    workdir: str = attrs.field(default="/workspace", validator=_absolute)
    """Where the agent's workspace (``workspace``) is mounted read-write, and its working
    directory."""
    sources: tuple[Source, ...] = ()
    """Host directories mounted read-only: ``[{source = "/src/app", target = "/src"}]``."""
    network: str | None = None
    """The network: ``none``, ``bridge``, ``host`` or a network's name (default: the
    engine's)."""
    user: str | None = None
    """Who the agent runs as (``1000:1000``; default: the image's user)."""
    ulimits: dict[str, int] = attrs.field(factory=dict)
    """Resource limits (soft and hard): ``{nofile = 4096, nproc = 512}``. Engines that may
    not raise a limit beyond their own need these set explicitly."""
    env_allow: tuple[str, ...] = ()
    """Variables passed through from the orchestrator's environment (default none: the
    image sets ``PATH`` and ``HOME``)."""
    start_timeout: float = attrs.field(default=30.0, validator=positive)
    """How long the agent has to send ``hello`` (the container's start included)."""
    grace: float = attrs.field(default=10.0, validator=non_negative)
    """How long the container has to exit after ``shutdown``, then after SIGTERM, before
    it is killed."""

    def problems(self) -> list[str]:
        found = []
        if not self.image.strip():
            found.append("image: required (the image the agents run in)")
        if self.worktree is not None and self.workspace is None:
            found.append("worktree: needs workspace (the directory worktrees go under)")
        if self.cwd is not None:
            found.append("cwd: not for containers (the workspace is mounted at workdir)")
        for name, value in self.ulimits.items():
            if name not in _ULIMITS:
                found.append(
                    f"ulimits: unknown limit {name!r} (one of {', '.join(sorted(_ULIMITS))})"
                )
            elif value <= 0:
                found.append(f"ulimits: {name} must be positive")
        return found
