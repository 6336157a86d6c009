"""Strict structuring of agent options and tool profiles, with one readable message per mistake.

Agent options arrive as a plain table (``[[pools]] options = {...}``), so the runtime checks
them itself, with the kernel's own strict converter: ``"3"`` is not an integer and an unknown
key is an error naming the closest known one.
"""

from __future__ import annotations

from typing import Any, TypeVar

import alveary

T = TypeVar("T")


def structure(data: Any, cls: type[T]) -> T:
    """Structure ``data`` into ``cls``; raise ``ValueError`` listing every problem, each as
    ``dotted.key: what was expected``, joined by ``"; "``."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a table, got {data!r}")
    try:
        structured: T = alveary.structure(data, cls)
    except Exception as exc:
        raise ValueError("; ".join(alveary.error_lines(exc))) from None
    return structured
