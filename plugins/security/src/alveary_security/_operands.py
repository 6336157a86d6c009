"""A command as the rules see it: its program, options and operands (paths made lexical),
what it writes and what it runs as code."""

from __future__ import annotations

import posixpath
import re

from ._programs import VALUED, WRITES

_KEYED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*=)(.*)", re.DOTALL)
_SECRET = re.compile(
    r"(?i)(^[A-Z_][A-Z0-9_]*=|(?:authorization|bearer|token|secret|passw(?:or)?d|api[-_]?key)"
    r"[\w-]*\s*[:=]?\s*)\S.*",
)


class Command:
    """One command as it would run, for the rules to look at."""

    __slots__ = (
        "background",
        "code_from",
        "function",
        "operands",
        "options",
        "piped",
        "program",
        "redirected",
        "words",
        "writes",
    )

    def __init__(self, program: str, args: list[str], cwd: str | None) -> None:
        self.program = program
        self.words = args
        self.redirected = ""
        """The output redirections, as written (``> /dev/sda``)."""
        self.options: list[str] = []
        self.operands: list[str] = []
        valued = VALUED.get(program, frozenset())
        files = program in WRITES
        ended = skip = False
        if program == "kill" and len(args) > 1 and args[-1][1:].isdigit():
            args = [*args[:-1], "--", args[-1]]  # ``kill -9 -1``: the last word is a process id
        for word in args:
            if skip:
                skip = False
            elif not ended and word == "--":
                ended = True
            elif not ended and len(word) > 1 and word[0] == "-":
                self.options.append(word)
                skip = word in valued
            else:
                self.operands.append(path(word, cwd, files))
        self.writes: list[str] = []
        self.code_from: set[str] = set()
        """Programs whose output this command runs as code."""
        self.function = ""
        self.piped = self.background = False

    def shown(self) -> str:
        """The command as it would run, secrets masked: for a reason."""
        return " ".join([*(mask(w) for w in [self.program, *self.words]), self.redirected]).strip()


def mask(word: str) -> str:
    """``word`` without a secret: ``TOKEN=***``, ``Authorization: ***``."""
    found = _SECRET.match(word) or _SECRET.search(word)
    return word if found is None else word[: found.end(1)] + "***"


def path(word: str, cwd: str | None, relative: bool = True) -> str:
    """``word`` as a lexical path when it is one: ``/bin/../`` is ``/``, ``$HOME/x`` is
    ``~/x``, ``x`` is ``cwd/x`` when ``cwd`` is known and ``relative`` (the program takes
    files). Anything else is returned as is."""
    keyed = _KEYED.fullmatch(word) if "=" in word else None
    if keyed is not None:  # ``of=/dev/sda``
        return keyed[1] + path(keyed[2], cwd, relative)
    if not word:
        return word
    if word[0] == "/":
        return _lexical(word)
    if word == "~" or word.startswith("~/"):
        return word if ".." in word else "~" + _lexical("/" + word[2:]).rstrip("/")
    if cwd is not None and "$" not in word and (relative or "/" in word or word in (".", "..")):
        return _lexical(f"{cwd}/{word}") if cwd[0] == "/" else path(f"{cwd}/{word}", None)
    return word


def _lexical(absolute: str) -> str:
    normal = posixpath.normpath(absolute)
    return normal[1:] if normal.startswith("//") else normal


def writes(program: str, command: Command) -> list[str]:
    how, operands, options = WRITES.get(program), command.operands, command.options
    if how == "all":
        return operands
    if how == "rest":
        return operands[1:]
    if how == "of":
        return [o[3:] for o in operands if o.startswith("of=")]
    if how == "in-place" and any(
        (o[1:2] != "-" and "i" in o) or o == "--in-place" for o in options
    ):
        scripted = any(o in ("-e", "-f", "--expression", "--file") for o in options)
        return operands if scripted else operands[1:]
    if how == "last":
        local = [o for o in operands if not re.match(r"[^/]+:", o)]
        return local[-1:] if len(operands) > 1 else []
    return []
