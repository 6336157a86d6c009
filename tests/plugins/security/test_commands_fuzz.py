"""The command guard under random input: it never raises on any text or argument vector
(and its parser fails only with ``Unparsable``), and obfuscating a caught command (spaces,
tabs, ``${IFS}``, quotes, backslashes, ``/bin/`` and wrappers) keeps it caught."""

from __future__ import annotations

import contextlib
import re

from alveary_security import RISKS, Guard
from alveary_security._normalise import from_argv, from_text
from alveary_security._shell import Unparsable
from hypothesis import given, settings
from hypothesis import strategies as st

from .test_commands_corpus import corpus

GUARD = Guard.from_config()
RANK = {risk: n for n, risk in enumerate(RISKS, 1)}
FUZZ = settings(max_examples=300, deadline=None)
SHELLY = st.text(alphabet=st.sampled_from(list(" \t\n'\"\\$`(){}[];&|<>#=*~/-_abcrmsh01IFS")))


@FUZZ
@given(st.one_of(st.text(), SHELLY), st.one_of(st.none(), st.sampled_from(["/srv/ws", "rel", "/"])))
def test_check_never_raises_on_text(text: str, workspace: str | None) -> None:
    verdict = GUARD.check(text, workspace=workspace)
    assert verdict.action in ("allow", "log", "approve", "block")
    with contextlib.suppress(Unparsable):  # the one failure the parser may report
        from_text(text, workspace)


@FUZZ
@given(st.lists(st.one_of(st.text(), SHELLY), max_size=8))
def test_check_never_raises_on_argv(argv: list[str]) -> None:
    assert GUARD.check(argv).action in ("allow", "log", "approve", "block")
    with contextlib.suppress(Unparsable):
        from_argv(argv, "/srv/ws")


_SIMPLE = re.compile(r"[\w./~*=:+-]+( [\w./~*=:+-]+)*")
CAUGHT = [
    (entry["command"], entry["risk"])
    for entry in corpus()["dangerous"]
    if "workspace" not in entry and _SIMPLE.fullmatch(entry.get("command", ""))
]
WRAPPERS = ["", "sudo ", "env A=1 ", "nice -n 5 ", "command ", "timeout 9 ", "nohup ", "exec "]


@st.composite
def obfuscated(draw: st.DrawFn) -> tuple[str, str]:
    """A simple caught command with each word quoted or escaped some way, joined by odd
    spaces, behind a wrapper."""
    command, risk = draw(st.sampled_from(CAUGHT))
    words = []
    for n, word in enumerate(command.split(" ")):
        how = draw(st.sampled_from(["plain", "single", "double", "split", "escape", "path"]))
        cut = draw(st.integers(0, len(word)))
        if how == "single":
            word = f"'{word}'"
        elif how == "double" and "~" not in word:
            word = f'"{word}"'
        elif how == "split":
            mark = draw(st.sampled_from(["''", '""']))
            word = word[:cut] + mark + word[cut:]
        elif how == "escape" and cut < len(word) and word[cut].isalnum():
            word = f"{word[:cut]}\\{word[cut:]}"
        elif how == "path" and n == 0 and word[0].isalpha() and word not in ("kill", "history"):
            word = draw(st.sampled_from(["/bin/", "/usr/bin/", "/usr/local/bin/"])) + word
        words.append(word)
    spaces = st.sampled_from([" ", "  ", "\t", " \t ", "${IFS}", "$IFS "])
    text = words[0] + "".join(draw(spaces) + w for w in words[1:])
    return draw(st.sampled_from(WRAPPERS)) + text, risk


def test_there_are_simple_commands_to_obfuscate() -> None:
    assert len(CAUGHT) >= 20


@FUZZ
@given(obfuscated())
def test_obfuscation_keeps_a_command_caught(case: tuple[str, str]) -> None:
    text, risk = case
    verdict = GUARD.check(text)
    assert verdict.risk is not None, text
    assert RANK[verdict.risk] >= RANK[risk], (text, verdict)
