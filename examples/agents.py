"""Handlers for the local agents that examples/alveary.toml declares.

The local runtime calls a handler with each ``Task`` and makes its return value the task's
value. A plain function runs in a worker thread, so CPU work does not stall the event loop; an
``async def`` runs on the loop. Raising fails the attempt (it is retried while attempts remain);
``PermanentFailure`` fails the task at once.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from typing import Any

from alveary import PermanentFailure, Task

MAX_LINE = 100
_WORD = re.compile(r"[a-z']+")


def review(task: Task) -> list[str]:
    """Review Python source (the payload, a string): one finding per line, empty if clean."""
    source = task.payload
    if not isinstance(source, str):
        raise PermanentFailure(f"expected Python source as a string, got {type(source).__name__}")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"line {exc.lineno}: syntax error: {exc.msg}"]
    findings = [
        f"line {number}: {len(line)} characters (limit {MAX_LINE})"
        for number, line in enumerate(source.splitlines(), start=1)
        if len(line) > MAX_LINE
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is None:
            findings.append(f"line {node.lineno}: bare 'except:' also catches KeyboardInterrupt")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not ast.get_docstring(
            node
        ):
            findings.append(f"line {node.lineno}: function {node.name!r} has no docstring")
    return sorted(findings, key=lambda finding: int(finding.split(":")[0].split()[1]))


async def summarize(task: Task) -> dict[str, Any]:
    """Summarise text (the payload, a string): its size and its most frequent words."""
    text = task.payload
    if not isinstance(text, str):
        raise PermanentFailure(f"expected text as a string, got {type(text).__name__}")
    words = _WORD.findall(text.lower())
    return {
        "lines": len(text.splitlines()),
        "words": len(words),
        "top": Counter(w for w in words if len(w) > 3).most_common(5),
    }
