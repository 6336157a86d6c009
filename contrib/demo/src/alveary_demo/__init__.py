"""``alveary demo``: a real workload on built-in defaults.

Pools of local agents hash, compress and analyse the files under a directory, some failing or
stuck on purpose; with ``alveary-subprocess`` installed and ``wc`` on PATH, a pool of child
processes counts their lines. The package adds the ``demo`` command to ``alveary`` through the
``alveary.cli`` entry-point group; ``demo()`` runs the same workload from Python.
"""

from __future__ import annotations

from ._cli import main
from ._run import EVENTS, demo

__all__ = ["EVENTS", "demo", "main"]
