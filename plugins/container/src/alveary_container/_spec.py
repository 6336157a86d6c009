"""What a container is created with: the labels marking it as alveary's, its mounts,
limits and environment, from the pool's options."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path

import alveary

from ._config import ContainerOptions
from ._engine import Spec

RUNTIME = "io.alveary.runtime"
"""Every container of this runtime carries ``io.alveary.runtime=container``..."""
OWNER = "io.alveary.owner"
"""... the owner of the orchestrator that made it (``[plugins.container] owner``)..."""
INSTANCE = "io.alveary.instance"
"""... the run of that orchestrator (a new id each start)..."""
POOL = "io.alveary.pool"
AGENT = "io.alveary.agent"
AGENT_ID = "io.alveary.agent-id"
"""... and its pool, agent name and agent id."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def owned(owner: str) -> dict[str, str]:
    """The labels that select every container of ``owner``."""
    return {RUNTIME: "container", OWNER: owner}


def container_spec(
    options: ContainerOptions,
    agent: alveary.Agent,
    env: Mapping[str, str],
    workspace: Path | None,
    *,
    owner: str,
    instance: str,
) -> Spec:
    """The container of ``agent``: named after it (with a random suffix, so a replacement
    never collides with a container still being removed), labelled, with its workspace
    mounted read-write at ``workdir`` and its sources read-only."""
    mounts = [(str(workspace), options.workdir, False)] if workspace is not None else []
    mounts += [(source.source, source.target, True) for source in options.sources]
    return Spec(
        image=options.image,
        name=f"alveary-{owner}-{_UNSAFE.sub('_', agent.name)}-{secrets.token_hex(3)}",
        command=options.command,
        env=dict(env),
        labels={
            **owned(owner),
            INSTANCE: instance,
            POOL: agent.pool or "",
            AGENT: agent.name,
            AGENT_ID: agent.id,
        },
        workdir=options.workdir if workspace is not None else None,
        mounts=tuple(mounts),
        memory=options.memory,
        cpus=options.cpus,
        network=options.network,
        user=options.user,
        ulimits=dict(options.ulimits),
    )
