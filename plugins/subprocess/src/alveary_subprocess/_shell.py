"""Where each placeholder of a ``shell`` template stands, as ``/bin/sh`` reads the line.

A value belongs in a plain word of a command (``grep -n -- {pattern} {file}``) and nowhere
else: inside quotes, backquotes, ``$((...))``, a comment or a here-document the shell would
read it differently. ``slots`` finds the context of every placeholder, and whether it begins
a word that no ``--`` of its command comes before (where a tool reads ``-v`` as an option).
"""

from __future__ import annotations

import functools
import re

import attrs

_TOKEN = re.compile(r"\$\{[^{}]*\}|\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MARK = "\x00"
"""Stands for a placeholder in the text read (no template can hold a NUL: options refuse
it, and no argument could carry it)."""
_ENDS_WORD = " \t<>;&|"
_ENDS_COMMAND = ";&|"
_INSIDE = {
    "'": "single quotes",
    '"': "double quotes",
    "`": "backquotes",
    "$((": "$((...))",
    "#": "a comment",
    "<<": "a here-document",
}


@attrs.frozen
class Slot:
    """A placeholder of a shell template."""

    name: str
    at: int
    """Its offset in the template."""
    inside: str | None
    """What it stands in when that is not a plain word of a command: ``single quotes``,
    ``double quotes``, ``backquotes``, ``$((...))``, ``a comment``, ``a here-document``,
    ``a backslash escape``."""
    leads: bool
    """It begins a plain word that no ``--`` of its command comes before."""


@attrs.define
class _Frame:
    """One level of nesting: ``top``, ``$(``, ``(``, a quote, ``$((``, ``#``, ``<<``."""

    kind: str
    word: str = ""
    """Command levels: the word being read (to spot ``--`` and ``#``). ``<<``: its end."""
    guarded: bool = False
    """Command levels: a ``--`` came earlier in this simple command. ``<<``: strip tabs."""
    depth: int = 0
    """``$((``: parentheses open inside."""


@functools.lru_cache(maxsize=256)
def slots(template: str) -> tuple[Slot, ...]:
    """Every placeholder of ``template`` (a ``shell`` template), in order, with its
    context."""
    names: list[tuple[str, int]] = []

    def mark(match: re.Match[str]) -> str:
        token = match.group(0)
        if match.group(1):
            names.append((match.group(1), match.start()))
            return _MARK
        return token[0] if token in ("{{", "}}") else token

    return _Reader(_TOKEN.sub(mark, template), names).read()


class _Reader:
    """Reads a command line the way ``/bin/sh`` splits it, far enough to place placeholders
    (a ``_MARK`` each)."""

    def __init__(self, text: str, names: list[tuple[str, int]]) -> None:
        self.text = text
        self.names = iter(names)
        self.stack = [_Frame("top")]
        self.heredocs: list[_Frame] = []
        """Here-documents opened on the current line; their bodies follow it."""
        self.found: list[Slot] = []

    def read(self) -> tuple[Slot, ...]:
        i = 0
        while i < len(self.text):
            i = self.step(i)
        return tuple(self.found)

    def slot(self, frame: _Frame, inside: str | None = None) -> None:
        name, at = next(self.names)
        inside = inside or _INSIDE.get(frame.kind)
        leads = inside is None and not frame.word.strip(_MARK) and not frame.guarded
        self.found.append(Slot(name, at, inside, leads))
        if inside is None:
            frame.word += _MARK

    def step(self, i: int) -> int:
        """Read from ``text[i]``; the index of what comes next."""
        text, frame = self.text, self.stack[-1]
        char, kind = text[i], frame.kind
        if kind == "<<":  # a line of a here-document's body
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            line = text[i:end]
            for _ in range(line.count(_MARK)):
                self.slot(frame)
            if (line.lstrip("\t") if frame.guarded else line) == frame.word:
                self.stack.pop()
                self.next_body()
            return end + 1
        if char == _MARK:
            self.slot(frame)
            return i + 1
        if char == "\\" and kind not in ("'", "#") and text.startswith(_MARK, i + 1):
            self.slot(frame, "a backslash escape")
            return i + 2
        if kind == "#":
            if char == "\n":
                self.stack.pop()
                return self.newline(i)
            return i + 1
        if kind == "'":
            if char == "'":
                self.stack.pop()
            return i + 1
        if kind in ('"', "`"):
            if char == "\\":
                return i + 2
            if char == kind:
                self.stack.pop()
                return i + 1
            if char == "`" or text.startswith("$(", i) or (kind == "`" and char in "'\""):
                return self.open(i)
            return i + 1
        if kind == "$((":
            if char == "(":
                frame.depth += 1
            elif char == ")" and frame.depth:
                frame.depth -= 1
            elif char == ")":
                self.stack.pop()
                return i + 2
            return i + 1
        return self.command(i, frame)

    def command(self, i: int, frame: _Frame) -> int:
        """A character at a command level (the top, ``$(`` or ``(``)."""
        text = self.text
        char = text[i]
        if char == "\\":
            frame.word += text[i : i + 2]
            return i + 2
        if char in "'\"`" or text.startswith("$(", i):
            frame.word += char
            return self.open(i)
        if char == "#" and frame.word == "":
            self.stack.append(_Frame("#"))
            return i + 1
        if text.startswith("<<", i) and not text.startswith("<<<", i):
            self.end_word(frame)
            return self.heredoc(i + 2)
        if char == "(":
            self.end_word(frame)
            self.stack.append(_Frame("("))
            return i + 1
        if char == ")" and frame.kind != "top":
            self.end_word(frame)
            self.stack.pop()
            self.stack[-1].word += ")"
            return i + 1
        if char == "\n":
            return self.newline(i)
        if char in _ENDS_WORD:
            self.end_word(frame)
            if char in _ENDS_COMMAND and not (char == "&" and text[i - 1 : i] in ("<", ">")):
                frame.guarded = False
            return i + 1
        frame.word += char
        return i + 1

    def open(self, i: int) -> int:
        """Enter the quote, backquote, ``$(`` or ``$((`` at ``text[i]``."""
        text = self.text
        opener = next((o for o in ("$((", "$(") if text.startswith(o, i)), text[i])
        self.stack.append(_Frame(opener))
        return i + len(opener)

    def newline(self, i: int) -> int:
        """A newline ends the word and the simple command; here-documents opened on the
        line begin."""
        frame = self.stack[-1]
        if frame.kind in ("top", "$(", "("):
            self.end_word(frame)
            frame.guarded = False
        self.next_body()
        return i + 1

    def next_body(self) -> None:
        if self.heredocs:
            self.stack.append(self.heredocs.pop(0))

    def heredoc(self, i: int) -> int:
        """Read the end word after ``<<`` (``<<-`` strips tabs; quotes around it go)."""
        text = self.text
        tabs = text.startswith("-", i)
        i += tabs
        while i < len(text) and text[i] in " \t":
            i += 1
        start = i
        while i < len(text) and text[i] not in _ENDS_WORD + "()\n":
            i += 1
        word = text[start:i]
        body = _Frame("<<", re.sub(r"[\"'\\]", "", word), tabs)
        for _ in range(word.count(_MARK)):
            self.slot(body)
        self.heredocs.append(body)
        return i

    @staticmethod
    def end_word(frame: _Frame) -> None:
        if frame.word == "--":
            frame.guarded = True
        frame.word = ""
