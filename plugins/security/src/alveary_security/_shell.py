"""Shell text into words and operators, as ``sh`` splits it, for the command guard.

``shlex`` splits words but does not know ``$(...)``, backquotes, ``<(...)``, here-documents
or that ``'$(x)'`` is literal while ``"$(x)"`` runs ``x``; this scanner does. Quotes and
backslashes are removed; the text inside each substitution is kept so that it can be parsed
in turn (it runs too). Nothing is expanded here but ``$IFS`` (a space) and ANSI-C quoting
(``$'\\x72m'`` is ``rm``).
"""

from __future__ import annotations

import codecs
import re

OPERATORS = (
    "&>>", "<<<", "<<-", "&&", "||", ";;", "|&", "&>", ">>", ">|", ">&", "<&", "<>", "<<",
    ">", "<", "|", "&", ";", "(", ")",
)  # fmt: skip
"""Longest first, so that the first one that matches is the operator."""

REDIRECTS = frozenset({"&>>", "<<<", "<<-", "&>", ">>", ">|", ">&", "<&", "<>", "<<", ">", "<"})

_SPECIAL = frozenset(" \t\n|&;<>()'\"\\$`#")
_PLAIN = re.compile(r"[^ \t\n|&;<>()'\"\\$`#]+")
_IFS = re.compile(r"\$\{IFS\}|\$IFS(?![A-Za-z0-9_])")


class Unparsable(ValueError):
    """The text is not a complete shell command: an unclosed quote, substitution or
    parenthesis, or commands nested too deep to follow."""


class Word:
    """One shell word after quote removal, with the scripts of the substitutions in it."""

    __slots__ = ("procs", "quoted", "subs", "text")

    def __init__(self) -> None:
        self.text = ""
        self.quoted = -1
        """Where in ``text`` the first quoted or escaped part starts; -1 for none."""
        self.subs: list[str] = []
        """Scripts of the command substitutions (``$(...)``, backquotes) in the word."""
        self.procs: list[str] = []
        """Scripts of the process substitutions (``<(...)``, ``>(...)``) in the word."""

    @property
    def plain(self) -> bool:
        """No quote or backslash in it: a reserved word, split when a variable expands."""
        return self.quoted < 0

    def quote(self) -> None:
        """Mark that a quoted or escaped part starts here."""
        if self.quoted < 0:
            self.quoted = len(self.text)


def tokens(text: str) -> list[str | Word]:
    """Words and operators (``str``); a newline is ``;``. Raises ``Unparsable``."""
    if "IFS" in text:
        text = _IFS.sub(" ", text)
    out: list[str | Word] = []
    heredocs: list[tuple[Word, bool]] = []
    word: Word | None = None
    i, end = 0, len(text)
    while i < end:
        c = text[i]
        if c not in _SPECIAL:
            match = _PLAIN.match(text, i)
            assert match is not None
            word = word or Word()
            word.text += match.group()
            i = match.end()
            continue
        if c in " \t\n":
            if word is not None:
                out.append(word)
                word = None
            i += 1
            if c == "\n":
                out.append(";")
                if heredocs:
                    i = _bodies(text, i, heredocs)
            continue
        if c == "#" and word is None:
            newline = text.find("\n", i)
            i = end if newline < 0 else newline
            continue
        if c in "<>" and text.startswith("(", i + 1):
            close = closing(text, i + 2)
            word = word or Word()
            word.procs.append(text[i + 2 : close])
            word.text += text[i : close + 1]
            i = close + 1
            continue
        if c in "|&;<>()":
            if word is not None:
                if c in "<>" and word.plain and word.text.isdigit():
                    word = None  # a file descriptor: ``2>``
                else:
                    out.append(word)
                    word = None
            op = next(o for o in OPERATORS if text.startswith(o, i))
            out.append(op)
            i += len(op)
            if op in ("<<", "<<-"):
                heredocs.append((_Pending(), op == "<<-"))
                out.append(heredocs[-1][0])
                while i < end and text[i] in " \t":
                    i += 1
                i = _word_into(text, i, heredocs[-1][0])
            continue
        word = word or Word()
        i = _piece(text, i, word)
    if word is not None:
        out.append(word)
    return out


class _Pending(Word):
    """A here-document: its delimiter until the newline, then its body."""

    __slots__ = ()


def _word_into(text: str, i: int, word: Word) -> int:
    """Read one word (the delimiter of a here-document) into ``word``."""
    end = len(text)
    while i < end and text[i] not in " \t\n|&;<>()":
        if text[i] in _SPECIAL:
            i = _piece(text, i, word)
        else:
            word.text += text[i]
            i += 1
    return i


def _bodies(text: str, i: int, heredocs: list[tuple[Word, bool]]) -> int:
    """Read the bodies of the pending here-documents, which start at ``i``."""
    for doc, tabs in heredocs:
        delimiter, body = doc.text, []
        while i < len(text):
            newline = text.find("\n", i)
            line = text[i:] if newline < 0 else text[i:newline]
            i = len(text) if newline < 0 else newline + 1
            if (line.lstrip("\t") if tabs else line) == delimiter:
                break
            body.append(line)
        doc.text = "\n".join(body)
    heredocs.clear()
    return i


def _piece(text: str, i: int, word: Word) -> int:
    """Add the quoted string, escape or substitution at ``text[i]`` to ``word``; return the
    index after it."""
    c = text[i]
    if c == "'":
        close = text.find("'", i + 1)
        if close < 0:
            raise Unparsable("unclosed single quote")
        word.text += text[i + 1 : close]
        word.quote()
        return close + 1
    if c == "\\":
        word.quote()
        if text.startswith("\n", i + 1):
            return i + 2
        word.text += text[i + 1 : i + 2]
        return i + 2
    if c == '"':
        word.quote()
        return _double(text, i + 1, word)
    if c == "`":
        return _backquote(text, i, word)
    if c == "$":
        return _dollar(text, i, word)
    word.text += c  # ``#`` inside a word
    return i + 1


def _double(text: str, i: int, word: Word) -> int:
    end = len(text)
    while i < end:
        c = text[i]
        if c == '"':
            return i + 1
        if c == "\\" and i + 1 < end:
            nxt = text[i + 1]
            word.text += nxt if nxt in '$`"\\' else ("" if nxt == "\n" else c + nxt)
            i += 2
        elif c == "$":
            i = _dollar(text, i, word)
        elif c == "`":
            i = _backquote(text, i, word)
        else:
            word.text += c
            i += 1
    raise Unparsable("unclosed double quote")


def _backquote(text: str, i: int, word: Word) -> int:
    j = i + 1
    while j < len(text) and text[j] != "`":
        j += 2 if text[j] == "\\" else 1
    if j >= len(text):
        raise Unparsable("unclosed backquote")
    inner = re.sub(r"\\([$`\\])", r"\1", text[i + 1 : j])
    word.subs.append(inner)
    word.text += f"$({inner})"
    return j + 1


def _dollar(text: str, i: int, word: Word) -> int:
    if text.startswith("$((", i):
        close = closing(text, i + 2)
        word.text += text[i : close + 1]
        return close + 1
    if text.startswith("$(", i):
        close = closing(text, i + 2)
        word.subs.append(text[i + 2 : close])
        word.text += text[i : close + 1]
        return close + 1
    if text.startswith("${", i):
        close = text.find("}", i)
        if close < 0:
            raise Unparsable("unclosed ${")
        inner = text[i + 2 : close]
        word.text += f"${inner}" if inner.isidentifier() or inner.isdigit() else text[i : close + 1]
        return close + 1
    if text.startswith("$'", i):
        close = i + 2
        while close < len(text) and text[close] != "'":
            close += 2 if text[close] == "\\" else 1
        if close >= len(text):
            raise Unparsable("unclosed $'")
        word.text += _ansi_c(text[i + 2 : close])
        word.quote()
        return close + 1
    word.text += "$"
    return i + 1


def _ansi_c(body: str) -> str:
    """Bash's ``$'...'``: ``\\x72`` is ``r``, ``\\155`` is ``m``."""
    try:
        raw = body.encode("latin-1", "backslashreplace")
        return codecs.decode(raw, "unicode_escape")
    except (UnicodeError, ValueError):
        return body


def closing(text: str, i: int) -> int:
    """Index of the ``)`` that closes the ``(`` just before ``i``, past quotes, escapes,
    backquotes and nested parentheses. Raises ``Unparsable``."""
    depth, end = 1, len(text)
    while i < end:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            close = text.find("'", i + 1)
            if close < 0:
                raise Unparsable("unclosed single quote")
            i = close + 1
            continue
        if c == '"':
            i = _double(text, i + 1, Word())
            continue
        if c == "`":
            i = _backquote(text, i, Word())
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise Unparsable("unclosed parenthesis")
