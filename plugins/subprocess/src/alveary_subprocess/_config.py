"""``[plugins.subprocess]``: settings shared by every agent of the ``subprocess`` runtime.
Per-agent settings are the pool's ``options`` (see ``options.SubprocessOptions``)."""

from __future__ import annotations

import attrs
from alveary.validators import non_negative, positive

from .profiles import ToolProfile


@attrs.frozen
class Config:
    """How the ``subprocess`` runtime runs agents. Times in seconds, sizes in bytes."""

    log_dir: str = ".alveary/logs"
    """Where ``<agent name>.log`` files go (relative to the orchestrator's working
    directory)."""
    log_max_bytes: int = attrs.field(default=10 * 2**20, validator=positive)
    """An agent's log rotates (to ``.log.1``) past this size."""
    max_starting: int = attrs.field(default=0, validator=non_negative)
    """Protocol agents starting at once (0: four per CPU). Start-up is CPU-bound; starting
    200 at once would make each of them wait for all the others."""
    max_bad_lines: int = attrs.field(default=100, validator=positive)
    """Malformed protocol lines in a row after which an agent is failed and replaced."""
    cancel_grace: float = attrs.field(default=5.0, validator=positive)
    """How long a protocol agent has to answer a ``cancel`` before it counts as hung and is
    killed."""
    tools: dict[str, ToolProfile] = attrs.field(factory=dict)
    """Extra tool profiles for ``alveary agents detect`` (``[plugins.subprocess.tools.x]``);
    a name of a built-in replaces it."""
