"""Looking at a value: is it a finite number, and how an error or a summary line shows it."""

from __future__ import annotations

import datetime
import math
import reprlib
from typing import Any

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 40
_repr.maxlong = 24
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = _repr.maxfrozenset = 4
_repr.maxlevel = 2


def shown(value: Any) -> str:
    """``value``'s repr cut short, so a 1 MB string or a deep table is not echoed whole."""
    if isinstance(value, (datetime.date, datetime.time)):
        return f"the date or time {value.isoformat()}"
    return _repr.repr(value)


def counted(n: int, noun: str) -> str:
    """``1 pool``, ``2 pools``: a count in a line for people."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def finite(value: float) -> bool:
    """True for a number that is not ``nan`` or infinite (nor an int too large for a float)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
