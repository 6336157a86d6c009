"""Shell words and operators into simple commands: which pipeline feeds which, what runs in
the background, inside which function. Lenient: the shape matters, not the grammar, so a
stray ``)`` or an unknown keyword is stepped over rather than refused."""

from __future__ import annotations

import re

from ._shell import REDIRECTS, Word, tokens

_KEYWORDS = frozenset(
    {"!", "if", "then", "else", "elif", "fi", "while", "until", "do", "done", "esac", "time"}
)
_CLAUSES = {"for": ("do", ";"), "select": ("do", ";"), "case": ("in",)}
"""Keywords whose clause (``for x in a b``) is words, not a command, up to one of these."""
_SEPARATORS = frozenset({";", "&", "&&", "||", ";;"})
_PLAIN = re.compile(r"[^\n|&;<>()'\"\\$`#]*")
_RESERVED = _KEYWORDS | _CLAUSES.keys() | {"function", "{", "}"}


class Simple:
    """One simple command as written: its words (assignments first), its redirections,
    and where its input comes from."""

    __slots__ = ("background", "feed", "function", "piped", "redirects", "upstream", "words")

    def __init__(self, function: str) -> None:
        self.words: list[Word] = []
        self.redirects: list[tuple[str, Word]] = []
        self.upstream: list[Simple] = []
        """Commands earlier in its pipeline: what it reads on standard input comes from them."""
        self.feed: Simple | None = None
        """The stage just before it, when that stage is one simple command (``echo x | xargs``)."""
        self.piped = False
        self.background = False
        self.function = function
        """The function whose body it is in, or ""."""


def parse(text: str) -> list[Simple]:
    """The simple commands of ``text``, in order. Raises ``Unparsable``."""
    if _PLAIN.fullmatch(text):  # the common case, words and spaces only: one simple command
        words = text.split()
        if words and words[0] not in _RESERVED:
            simple = Simple("")
            for text in words:
                word = Word()
                word.text = text
                simple.words.append(word)
            return [simple]
    return _Parser(tokens(text)).run()


class _Parser:
    def __init__(self, toks: list[str | Word]) -> None:
        self.toks = toks
        self.i = 0
        self.out: list[Simple] = []
        self.function = ""

    def run(self) -> list[Simple]:
        while self.i < len(self.toks):
            self._list(())
            self.i += 1  # a stray closing word or parenthesis
        return self.out

    def _peek(self) -> str | Word | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _word(self, *texts: str) -> bool:
        tok = self._peek()
        return isinstance(tok, Word) and tok.plain and tok.text in texts

    def _list(self, stop: tuple[str, ...]) -> None:
        """Pipelines up to ``stop`` (``)`` or ``}``) or the end, which it does not consume."""
        while self.i < len(self.toks):
            tok = self.toks[self.i]
            if tok in _SEPARATORS:
                self.i += 1
            elif tok == ")" or (isinstance(tok, Word) and tok.plain and tok.text in stop):
                return
            elif isinstance(tok, Word) and tok.plain and tok.text in _KEYWORDS:
                self.i += 1
            elif isinstance(tok, Word) and tok.plain and tok.text in _CLAUSES:
                ends = _CLAUSES[tok.text]
                self.i += 1
                while self.i < len(self.toks) and not (
                    self._word(*ends) or self.toks[self.i] in ends
                ):
                    self.i += 1
                self.i += 1
            else:
                self._pipeline()

    def _pipeline(self) -> None:
        upstream: list[Simple] = []
        previous: list[Simple] = []
        stages = 0
        while True:
            start = len(self.out)
            self._command()
            stage = self.out[start:]
            stages += 1
            for simple in stage:
                simple.upstream[:0] = upstream
            if stage and len(previous) == 1:
                stage[0].feed = previous[0]
            upstream.extend(stage)
            previous = stage
            if self._peek() in ("|", "|&"):
                self.i += 1
                continue
            break
        background = self._peek() == "&"
        for simple in upstream:
            simple.piped = simple.piped or stages > 1
            simple.background = simple.background or background

    def _command(self) -> None:
        tok = self._peek()
        if tok == "(":
            self.i += 1
            self._list((")",))
            if self._peek() == ")":
                self.i += 1
            self._simple()  # redirections after the subshell
        elif self._word("{"):
            self.i += 1
            self._list(("}",))
            if self._word("}"):
                self.i += 1
            self._simple()
        elif self._word("function") or self._defines():
            if self._word("function"):
                self.i += 1
            if self.i >= len(self.toks):
                return
            name = self.toks[self.i]
            self.i += 1
            if self._peek() == "(" and self.i + 1 < len(self.toks) and self.toks[self.i + 1] == ")":
                self.i += 2
            outer, self.function = self.function, name.text if isinstance(name, Word) else ""
            while self._peek() == ";":
                self.i += 1
            if self._word("{") or self._peek() == "(":
                self._command()
            else:
                self._pipeline()
            self.function = outer
        else:
            self._simple()

    def _defines(self) -> bool:
        """``name() ...``: a function definition starts here."""
        toks, i = self.toks, self.i
        return (
            i + 2 < len(toks)
            and isinstance(toks[i], Word)
            and toks[i + 1] == "("
            and toks[i + 2] == ")"
        )

    def _simple(self) -> None:
        simple = Simple(self.function)
        while self.i < len(self.toks):
            tok = self.toks[self.i]
            if isinstance(tok, Word):
                simple.words.append(tok)
                self.i += 1
            elif tok in REDIRECTS:
                self.i += 1
                target = self._peek()
                if isinstance(target, Word):
                    simple.redirects.append((tok, target))
                    self.i += 1
            else:
                break
        if simple.words or simple.redirects:
            self.out.append(simple)
