"""Where input came from: a TOML file read as untrusted input, and the line of a dotted key
in it, to put file and line in front of an error."""

from __future__ import annotations

import os
import re
from typing import Any

import attrs

from ._converter import Path, dotted
from ._toml import parse

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


@attrs.frozen
class Source:
    """Where some data came from, to put file and line in front of an error about a key of
    it: ``Source("flow.toml", text).error(("steps", 1, "timeout"), "expected ...")`` is
    ``flow.toml:9: steps[1].timeout: expected ...``. ``prefix`` is where the data sits in
    the file (``("tool", "alveary")`` in ``pyproject.toml``)."""

    file: str = "<config>"
    text: str | None = None
    prefix: Path = ()

    def line(self, path: Path) -> str:
        """``file:line: key`` for the dotted ``path`` (``file: key`` when no line is found)."""
        where = self.file
        if self.text is not None:
            number = locate(self.text, (*self.prefix, *path))
            if number:
                where += f":{number}"
        return f"{where}: {dotted(path)}" if path else where

    def error(self, path: Path, message: str) -> str:
        return f"{self.line(path)}: {message}"


def read_toml(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Source]:
    """The table in the TOML file at ``path`` and its ``Source``, read as the configuration
    is: a regular file of at most 1 MiB of UTF-8, nested at most as deep as the parser can
    go. Anything else raises ``ConfigError`` with one line naming the file (and the line,
    when there is one): a missing file, a directory, a FIFO, ``/dev/zero``, bad TOML."""
    data, text = parse(path)
    return data, Source(os.fspath(path), text)
