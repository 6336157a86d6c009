"""Properties of the template quoting, checked on many inputs; the shell-quoting property runs
the real /bin/sh."""

from __future__ import annotations

import subprocess

import pytest
from alveary_subprocess.template import TemplateError, render_argv, render_shell
from hypothesis import given, settings
from hypothesis import strategies as st

TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


@settings(max_examples=200, deadline=None)
@given(TEXT, st.lists(TEXT, max_size=4))
def test_argv_values_are_single_arguments(value: str, items: list[str]) -> None:
    argv = render_argv(
        ["tool", "--x={value}", "--", "{value}", "{items}"], {"value": value, "items": items}
    )
    assert argv == ["tool", f"--x={value}", "--", value, *items]


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT)
def test_a_value_before_dashdash_is_never_an_option(value: str, other: str) -> None:
    values = {"value": value, "other": other}
    template = ["tool", "{value}", "--", "{other}"]
    if value.startswith("-"):
        with pytest.raises(TemplateError, match="would read as an option"):
            render_argv(template, values)
    else:
        assert render_argv(template, values) == ["tool", value, "--", other]


@settings(max_examples=40, deadline=None)
@given(TEXT, st.lists(TEXT, max_size=3))
def test_shell_values_reach_the_shell_as_one_word_each(value: str, items: list[str]) -> None:
    script, args = render_shell(
        "printf -- '%s\\0' {value} {items}", {"value": value, "items": items}
    )
    done = subprocess.run(["/bin/sh", "-c", script, "sh", *args], capture_output=True, check=True)
    assert done.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1] == [value, *items]
