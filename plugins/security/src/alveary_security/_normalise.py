"""Shell text or an argument vector into the commands it would run, normalised for matching:
wrappers removed (``sudo``, ``env X=1``, ``timeout 5``), ``sh -c`` and ``eval`` scripts,
substitutions and ``find -exec`` commands followed, program names without their directory,
operands as lexical paths (``..`` resolved against the directory ``cd`` left, symlinks not
followed), and what each command writes and runs as code."""

from __future__ import annotations

import posixpath
import re

from ._operands import Command, mask, path, writes
from ._parse import Simple, parse
from ._programs import INLINE, INTERPRETER, SHELLS, SOURCES, WRITES, is_wrapper, wrapped
from ._shell import Unparsable, Word

MAX_DEPTH = 8
"""Scripts inside scripts followed at most; deeper is refused as unparsable."""

_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*|[0-9])")
_OUTPUT = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})


def from_text(text: str, cwd: str | None) -> list[Command]:
    """The commands of a shell command line or script. Raises ``Unparsable``."""
    walker = _Walker(cwd)
    walker.script(text, {"HOME": "~"}, 0)
    return walker.out


def from_argv(argv: list[str], cwd: str | None) -> list[Command]:
    """The commands of an argument vector, run without a shell. Raises ``Unparsable``."""
    walker = _Walker(cwd)
    if argv:
        walker.run(list(argv), [set() for _ in argv], {"HOME": "~"}, 0, None, [])
    return walker.out


class _Walker:
    def __init__(self, cwd: str | None) -> None:
        self.cwd = cwd
        self.out: list[Command] = []

    def script(self, text: str, variables: dict[str, str], depth: int) -> set[str]:
        """Walk a script; return the programs it runs."""
        if depth > MAX_DEPTH:
            raise Unparsable(f"scripts nested more than {MAX_DEPTH} deep")
        start = len(self.out)
        ran: dict[int, set[str]] = {}
        for simple in parse(text):
            first = len(self.out)
            self.simple(simple, variables, depth)
            if simple.piped:
                ran[id(simple)] = {c.program for c in self.out[first:]}
            for command in self.out[first:]:
                command.function = simple.function
                command.piped, command.background = simple.piped, simple.background
                if "-" in command.code_from:  # it reads code on standard input
                    command.code_from.discard("-")
                    for before in simple.upstream:
                        command.code_from |= ran.get(id(before), set())
        return {c.program for c in self.out[start:]}

    def simple(self, simple: Simple, variables: dict[str, str], depth: int) -> None:
        words = simple.words
        assigned = 0
        while assigned < len(words) and _assignment(words[assigned]):
            name, _, value = words[assigned].text.partition("=")
            variables[name.rstrip("+")] = _VAR.sub(lambda m: variables.get(m[1], m[0]), value)
            assigned += 1
        inner: dict[int, set[str]] = {}
        for word in (
            [*words, *(target for _, target in simple.redirects)] if simple.redirects else words
        ):
            if word.subs or word.procs:
                inner[id(word)] = set().union(
                    *(self.script(s, dict(variables), depth + 1) for s in word.subs + word.procs)
                )
        argv: list[str] = []
        subs: list[set[str]] = []
        for word in words[assigned:]:
            for text in _expand(word, variables):
                argv.append(text)
                subs.append(inner.get(id(word)) or set())
        writes, stdin = self.redirects(simple, inner) if simple.redirects else ([], [])
        if argv:
            self.run(argv, subs, variables, depth, simple, stdin)
        elif writes:
            self.out.append(Command("", [], self.cwd))
        if writes:
            last = self.out[-1]
            last.writes.extend(writes)
            shown = (f"{op} {mask(t.text)}" for op, t in simple.redirects if op in _OUTPUT)
            last.redirected = " ".join(shown)

    def redirects(
        self, simple: Simple, inner: dict[int, set[str]]
    ) -> tuple[list[str], list[str | set[str]]]:
        """Paths the redirections write, and what they feed on standard input: the text of a
        here-document or here-string, or the programs of a substitution (``< <(curl x)``)."""
        writes: list[str] = []
        stdin: list[str | set[str]] = []
        for op, target in simple.redirects:
            if op in _OUTPUT and not (op == ">&" and (target.text.isdigit() or target.text == "-")):
                writes.append(path(target.text, self.cwd))
            elif op in ("<<", "<<-", "<<<"):
                stdin.append(target.text)
            if op in ("<", "<<<") and id(target) in inner:
                stdin.append(inner[id(target)])
        return writes, stdin

    def run(
        self,
        argv: list[str],
        subs: list[set[str]],
        variables: dict[str, str],
        depth: int,
        simple: Simple | None,
        stdin: list[str | set[str]],
    ) -> None:
        """Walk one command: unwrap, follow the code it runs, record it."""
        for _ in range(32):
            program = argv[0].rpartition("/")[2] or argv[0]
            if not is_wrapper(program):
                break
            hit = wrapped(program, argv)
            if hit is None:
                break
            self.out.append(Command(program, argv[1:], self.cwd))
            kind, i = hit
            if kind != "argv":
                script = argv[i] if kind == "script" else " ".join(argv[i:])
                self.out[-1].code_from |= set().union(*subs[i:])
                self.script(script, dict(variables), depth + 1)
                return
            if program == "xargs":
                feed = simple.feed if simple is not None else None
                extra = _echoed(feed)
                argv, subs = argv[i:] + extra, subs[i:] + [set() for _ in extra]
            else:
                argv, subs = argv[i:], subs[i:]
        command = Command(program, argv[1:], self.cwd)
        command.code_from |= subs[0]
        if program in SHELLS or program in SOURCES or INTERPRETER.fullmatch(program):
            command.code_from |= self.code(program, argv, subs, variables, depth, stdin)
        elif program == "find":
            self.find(command, argv, variables, depth)
        elif program in ("cd", "pushd"):
            target = command.operands[0] if command.operands else "~"
            moved = path(target, self.cwd) if target != "-" and "$" not in target else ""
            self.cwd = moved if moved[:1] in ("/", "~") else None
        if program in WRITES:
            command.writes.extend(writes(program, command))
        self.out.append(command)

    def code(
        self,
        program: str,
        argv: list[str],
        subs: list[set[str]],
        variables: dict[str, str],
        depth: int,
        stdin: list[str | set[str]],
    ) -> set[str]:
        """Programs whose output a shell, an interpreter or ``eval`` runs as code; walks the
        scripts it is given (``-c``, ``eval``'s words, a here-document)."""
        if program == "eval":
            self.script(" ".join(argv[1:]), dict(variables), depth + 1)
            return set().union(*subs[1:]) if len(subs) > 1 else set()
        shell = program in SHELLS
        i, inline, stdin_only = 1, False, False
        while i < len(argv) and argv[i].startswith(("-", "+")) and argv[i] not in ("-", "--"):
            word = argv[i]
            bundle = shell and word[:1] == "-" and word[1:2] != "-"
            inline = inline or ("c" in word[1:] if bundle else word in INLINE and not shell)
            stdin_only = stdin_only or (bundle and "s" in word[1:])
            i += 2 if word in ("-o", "+o", "-O", "+O") or (not shell and word in INLINE) else 1
        i += argv[i : i + 1] == ["--"]
        if program in SOURCES or not inline:
            if i < len(argv) and not stdin_only and argv[i] not in ("-", "/dev/stdin"):
                return subs[i]  # a script file: only what a substitution put there is known
            found = {"-"}  # standard input: ``script`` adds what the pipeline feeds it
            for source in stdin:
                if isinstance(source, set):
                    found |= source
                elif shell:  # a here-document: read, so not unknown code
                    self.script(source, dict(variables), depth + 1)
            return found
        if shell and i < len(argv):
            positional = {str(n): w for n, w in enumerate(argv[i + 1 :])}
            positional["@"] = "\x1f".join(argv[i + 2 :])
            self.script(argv[i], {**variables, **positional}, depth + 1)
            return subs[i]
        return set()

    def find(
        self, command: Command, argv: list[str], variables: dict[str, str], depth: int
    ) -> None:
        """``find`` writes its start points with ``-delete`` and runs each ``-exec``."""
        starts = [a for a in argv[1:] if a[:1] not in ("-", "(", "!")]
        n = next((k for k, a in enumerate(argv[1:]) if a[:1] in ("-", "(", "!")), len(argv) - 1)
        starts = starts[:n] or ["."]
        command.operands = [path(s, self.cwd) for s in starts]
        command.options = [a for a in argv[1:] if a.startswith("-")]
        if "-delete" in command.options:
            command.writes.extend(command.operands)
        k = 1
        while k < len(argv):
            if argv[k] in ("-exec", "-execdir", "-ok", "-okdir"):
                end = next((j for j in range(k + 1, len(argv)) if argv[j] in (";", "+")), len(argv))
                inner = [a.replace("{}", starts[0]) for a in argv[k + 1 : end]]
                if inner:
                    self.run(inner, [set() for _ in inner], variables, depth + 1, None, [])
                k = end
            k += 1


def _assignment(word: Word) -> bool:
    """``NAME=value``, with ``NAME=`` unquoted (the value may be quoted)."""
    found = _ASSIGN.match(word.text)
    return found is not None and (word.quoted < 0 or found.end() <= word.quoted)


def _expand(word: Word, variables: dict[str, str]) -> list[str]:
    text = word.text
    if "$" not in text:
        return [text]
    if text in ("$@", "$*") and "@" in variables:
        return variables["@"].split("\x1f") if variables["@"] else []
    expanded = _VAR.sub(lambda m: variables.get(m[1], m[0]), text)
    if word.plain and expanded != text:
        return expanded.split()
    return [expanded]


def _echoed(feed: Simple | None) -> list[str]:
    """The words ``echo`` or ``printf`` feeds ``xargs``, which appends them to its command."""
    if feed is None or not feed.words:
        return []
    if posixpath.basename(feed.words[0].text) not in ("echo", "printf"):
        return []
    return [part for w in feed.words[1:] if not w.text.startswith("-") for part in w.text.split()]
