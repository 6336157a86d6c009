"""The ``container`` plugin: its config; its hooks are those of every supervised runtime."""

from __future__ import annotations

from alveary_subprocess import SupervisedPlugin

from . import _config
from ._runtime import ContainerRuntime


class Container(SupervisedPlugin):
    """Provides the ``container`` runtime: health checks say FAILED once an agent's container
    is gone, and the containers a dead run left are removed at start. ``[plugins.container]``
    is its ``Config``; each pool's ``options`` configure its agents
    (``alveary_container.ContainerOptions``)."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self.runtime = ContainerRuntime(config)
