"""Finding the line of a dotted key in TOML text, to put it in front of an error."""

from __future__ import annotations

import re

from ._converter import Path

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r'^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\'))*)\s*='
)
_INLINE_KEY = re.compile(r'[{,]\s*([A-Za-z0-9_-]+|"[^"]*")\s*=')


def _split_key(raw: str) -> list[str]:
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[A-Za-z0-9_-]+', raw)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def locate(text: str, path: Path) -> int | None:
    """The line number where ``path`` is set in TOML ``text``, or where its nearest set
    ancestor is; None if not even the first key appears. Good enough for error messages:
    handles tables, arrays of tables, dotted keys and one-line inline tables."""
    lines: dict[Path, int] = {}
    counts: dict[Path, int] = {}
    table: Path = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            keys = tuple(_split_key(header.group(2)))
            if header.group(1) == "[[":
                index = counts.get(keys, -1) + 1
                counts[keys] = index
                table = (*keys, index)
            else:
                table = keys
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            full = (*table, *_split_key(key.group(1)))
            lines.setdefault(full, number)
            rest = line[key.end() :]
            for inner in _INLINE_KEY.finditer(rest):
                lines.setdefault((*full, _split_key(inner.group(1))[0]), number)
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
