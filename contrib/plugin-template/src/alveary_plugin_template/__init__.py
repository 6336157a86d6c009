"""A template for an alveary plugin: copy the package, rename it, replace the hook.

As it stands it counts task attempts by kind and result, which is enough to show the parts
every plugin has: a ``Config`` filled from ``[plugins.template]``, a constructor taking it, and
one hook implementation. See README.md for how to make it yours.
"""

from __future__ import annotations

from collections import Counter

import alveary
import attrs

__all__ = ["Template"]


class Template:
    """Counts attempts of the task kinds in ``kinds`` by how they ended.

    ``counts[("build", "failed")]`` is how many attempts of ``build`` tasks failed so far.
    """

    @attrs.frozen
    class Config:
        """``[plugins.template]``: every field needs a default, so the table may be left out."""

        kinds: tuple[str, ...] = ()
        """Task kinds to count; empty (the default) counts every kind."""

    def __init__(self, config: Template.Config) -> None:
        self.config = config
        self.counts: Counter[tuple[str, str]] = Counter()

    @alveary.hookimpl
    def alveary_task_after(self, task: alveary.Task, outcome: alveary.Outcome) -> None:
        """After each attempt: count it. Returning None keeps the outcome as it is."""
        if not self.config.kinds or task.kind in self.config.kinds:
            self.counts[task.kind, outcome.state.value] += 1
