"""Properties of the template substitution and the protocol line reader, checked on many inputs;
the shell-quoting property runs the real /bin/sh."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from alveary_subprocess import read_lines
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


async def _split(chunks: list[bytes], max_line: int) -> tuple[list[tuple[int, bytes]], list[int]]:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    lines: list[tuple[int, bytes]] = []
    dropped: list[int] = []
    await read_lines(
        reader, max_line, lambda n, line: lines.append((n, line)), lambda n, size: dropped.append(n)
    )
    return lines, dropped


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20), st.data()
)
def test_lines_survive_any_chunking_and_long_ones_are_dropped(lines: list[bytes], data) -> None:
    blob = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=8)))
    chunks = [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=False) if b > a]
    max_line = 16
    got, dropped = asyncio.run(_split(chunks, max_line))
    expected = [(n, line) for n, line in enumerate(lines, 1) if len(line) <= max_line]
    assert got == expected
    assert dropped == [n for n, line in enumerate(lines, 1) if len(line) > max_line]
