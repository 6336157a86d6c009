"""The ``tmux`` plugin: its config; its hooks are those of every supervised runtime."""

from __future__ import annotations

from alveary_subprocess import SupervisedPlugin

from . import _config
from ._runtime import TmuxRuntime


class Tmux(SupervisedPlugin):
    """Provides the ``tmux`` runtime, answers health checks from tmux's own view of each
    session, and removes every session at shutdown. ``[plugins.tmux]`` is its ``Config``;
    each pool's ``options`` configure its agents (``alveary_tmux.TmuxOptions``)."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self.runtime = TmuxRuntime(config)
