"""Where input came from: a TOML file read as untrusted input, and the line of a dotted key
in it, to put file and line in front of an error."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path as FsPath
from typing import Any

import attrs

from ._converter import Path, dotted
from ._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

MAX_BYTES = 1 << 20
"""The largest TOML file read (1 MiB): ``--config /dev/zero`` must not eat the memory."""

MAX_DEPTH = 32
"""The deepest nesting of tables and lists a config may have."""

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
    name = os.fspath(path)
    text = _read(FsPath(path))
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{name}:{match.group(1)}" if match else name
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(f"{where}: invalid TOML: {message}") from None
    except RecursionError:  # the parser recurses per level of arrays and inline tables
        raise ConfigError(f"{name}: nested more than {MAX_DEPTH} levels deep") from None
    return data, Source(name, text)


def _read(path: FsPath) -> str:
    """The text of a regular file of at most ``MAX_BYTES`` in UTF-8; anything else (a
    directory, a FIFO that would block, a device that never ends) is refused in one line."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO: no wait
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{name}: is a directory, not a TOML file")
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{name}: not a regular file (a FIFO, a device, a socket?)")
        data = b""
        while len(data) <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{name}: larger than {MAX_BYTES >> 20} MiB; not a TOML file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{name}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
