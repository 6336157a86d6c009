"""alveary-container: agents in containers.

The ``container`` runtime runs each agent in its own container (Docker, or Podman's
Docker-compatible service, through the Docker Engine API) from its pool's image, with memory
and CPU limits, its workspace mounted read-write and sources read-only; the agent speaks the
agent protocol over the container's attached standard input and output. Every container is
labelled as alveary's (owner, run, pool, agent); those a dead run left are removed at start.
"""

from __future__ import annotations

from ._config import Config, ContainerOptions, Source
from ._engine import EngineError
from ._plugin import Container
from ._runtime import ContainerRuntime
from ._spec import AGENT, AGENT_ID, INSTANCE, OWNER, POOL, RUNTIME

__all__ = [
    "AGENT",
    "AGENT_ID",
    "INSTANCE",
    "OWNER",
    "POOL",
    "RUNTIME",
    "Config",
    "Container",
    "ContainerOptions",
    "ContainerRuntime",
    "EngineError",
    "Source",
]
