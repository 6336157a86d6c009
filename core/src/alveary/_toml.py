"""A TOML file read as untrusted input: a bounded regular file of UTF-8, parsed, and where the
configuration is found. Every failure is one ``ConfigError`` line.

Only the standard library and ``_errors``: ``alveary plugins`` reads the enabled plugins
with this alone, without the converter (attrs, cattrs) the whole configuration needs.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path as FsPath
from typing import Any

from ._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

MAX_BYTES = 1 << 20
"""The largest TOML file read (1 MiB): ``--config /dev/zero`` must not eat the memory."""

MAX_DEPTH = 32
"""The deepest nesting of tables and lists a config may have."""


def parse(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """The table in the TOML file at ``path``, and its text, read as the configuration is: a
    regular file of at most 1 MiB of UTF-8, nested at most as deep as the parser can go.
    Anything else raises ``ConfigError`` with one line naming the file (and the line, when
    there is one): a missing file, a directory, a FIFO, ``/dev/zero``, bad TOML."""
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
    return data, text


def find(path: str | os.PathLike[str] | None) -> tuple[FsPath, tuple[str, ...]] | None:
    """Where the configuration is: ``path`` if given, else ``./alveary.toml``, else
    ``./pyproject.toml`` (whose ``[tool.alveary]`` table it would be, if it has one); with
    the keys of that table. None when there is no such file."""
    if path is not None:
        return FsPath(path), ()
    if os.path.isfile("alveary.toml"):
        return FsPath("alveary.toml"), ()
    if os.path.isfile("pyproject.toml"):
        return FsPath("pyproject.toml"), ("tool", "alveary")
    return None


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
