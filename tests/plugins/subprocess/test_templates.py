"""Templates cannot be turned against their author: hostile payloads run for real through
``/bin/sh`` and real tools stay data, quoted placeholders are refused with the fix, a value
is never read as an option, and what cannot run fails at once instead of being retried."""

from __future__ import annotations

import sys
from pathlib import Path

import alveary
import pytest
from alveary import TaskSpec, TaskState
from alveary.testing import orchestrator
from alveary_subprocess import BUILTIN_TOOLS
from alveary_subprocess.template import fields, render_argv

PYTHON = sys.executable


def hostile(folder: Path) -> list[str]:
    """Payloads that each create ``folder/pwned`` if the shell ever reads them as code."""
    touch = f"touch {folder}/pwned"
    return [
        f"'; {touch}; '",
        f'"; {touch}; "',
        f"$({touch})",
        f"`{touch}`",
        f"a\n{touch}\n",
        f"x; {touch}",
        f"'\"'\"'; {touch} #",
        f"\\'; {touch}; \\'",
        "${IFS}*",
        "*",
        f"--x=$({touch})",
        "",
    ]


async def run_all(cfg: dict, payloads: list[object], kind: str) -> list[alveary.Outcome]:
    async with orchestrator(cfg) as orch:
        handles = [
            await orch.submit(TaskSpec(kind, p, requires={kind}, max_attempts=3)) for p in payloads
        ]
        return [await h.result(timeout=60) for h in handles]


async def test_hostile_values_stay_data_in_every_place_a_shell_template_takes_them(
    tmp_path, config, pool
) -> None:
    shell = (
        "printf -- '%s|' {x}; v={x}; printf '%s|' \"$v\"; "
        "printf '%s|' \"$(printf -- '%s' {x})\"; printf -- '%s' {x}.txt"
    )
    payloads = hostile(tmp_path)
    outcomes = await run_all(
        config(pool("sh", ["sh"], shell=shell, cwd=str(tmp_path))),
        [{"x": p} for p in payloads],
        "sh",
    )
    for payload, outcome in zip(payloads, outcomes, strict=True):
        assert outcome.state is TaskState.SUCCEEDED, outcome.error
        substituted = payload.rstrip("\n")  # as $(...) does
        assert outcome.value["stdout"] == f"{payload}|{payload}|{substituted}|{payload}.txt"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("shell", "message"),
    [
        ("printf '%s' '{x}'", "{x} at 13 is inside single quotes: write {x}, not '{x}'"),
        ('echo "{x}"', 'shell: {x} at 6 is inside double quotes: write {x}, not "{x}"'),
        ('echo "name: {x}!"', "{x} at 12 is inside double quotes"),
        ("echo `cat {x}`", "{x} at 10 is inside backquotes: use $(...), not backquotes"),
        ("echo $(( {n} + 1 ))", "{n} at 9 is inside $((...))"),
        ("cat <<EOF\n{x}\nEOF", "{x} at 10 is inside a here-document: feed it on standard input"),
        ("echo \\{x}", "{x} at 6 is inside a backslash escape: remove the backslash"),
        ("echo 'it''s' \"a\"'{x}'", "{x} at 17 is inside single quotes"),
    ],
)
def test_a_placeholder_inside_quotes_is_refused_with_the_fix(config, pool, shell, message):
    cfg = config(pool("sh", ["sh"], shell=shell))
    with pytest.raises(alveary.ConfigError) as info:
        alveary.Orchestrator.from_config(cfg)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "shell",
    [
        "grep -n -- {p} {f}",
        'echo "$(printf -- %s {x})" x',
        "cat <<'EOF'\nliteral {{x}}\nEOF\necho -- {x}",
        "echo -- {x} # the value {{x}}",
        'case {x} in "-"*) echo dash;; esac',
    ],
)
def test_plain_words_are_accepted(config, pool, shell) -> None:
    alveary.Orchestrator.from_config(config(pool("sh", ["sh"], shell=shell)))


@pytest.mark.parametrize(
    "template",
    [
        ["sh", "-c", "echo {x}"],
        ["/bin/bash", "-e", "-c", "grep -- {x} file"],
        ["{python}", "-c", "print('{x}')"],
    ],
)
def test_a_placeholder_in_inline_code_is_refused(config, pool, template) -> None:
    with pytest.raises(alveary.ConfigError, match=r"\{x\} is inside the code of .* -c"):
        alveary.Orchestrator.from_config(config(pool("t", ["t"], template=template)))


async def test_a_value_that_looks_like_an_option_is_refused_before_dashdash(
    tmp_path, config, pool
) -> None:
    (tmp_path / "notes.txt").write_text("alpha\n-v\nbeta\n")
    cwd = str(tmp_path)
    cfg = config(
        pool("bare", ["bare"], template=["grep", "{p}", "notes.txt"], cwd=cwd),
        pool("guarded", ["guarded"], template=["grep", "--", "{p}", "notes.txt"], cwd=cwd),
        pool("attached", ["attached"], template=["grep", "--regexp={p}", "notes.txt"], cwd=cwd),
        pool("shell", ["shell"], shell="grep {p} notes.txt; grep -- {p} notes.txt", cwd=cwd),
        pool("list", ["list"], template=["ls", "{files}"], cwd=cwd),
    )
    async with orchestrator(cfg) as orch:
        outcomes = {
            kind: await (
                await orch.submit(TaskSpec(kind, payload, requires={kind}, max_attempts=3))
            ).result(timeout=30)
            for kind, payload in [
                ("bare", {"p": "-v"}),
                ("guarded", {"p": "-v"}),
                ("attached", {"p": "-v"}),
                ("shell", {"p": "-v"}),
                ("list", {"files": ["notes.txt", "--all"]}),
            ]
        }
    refused = outcomes["bare"]
    assert refused.state is TaskState.FAILED
    assert refused.attempts == 1
    assert refused.error == (
        "PermanentFailure: {p} is '-v', which grep would read as an option: in the template, "
        'put "--" before {p} (or attach it: --flag={p})'
    )
    assert outcomes["guarded"].value["stdout"] == "-v\n"
    assert outcomes["attached"].value["stdout"] == "-v\n"
    assert outcomes["shell"].error.startswith("PermanentFailure: {p} is '-v', which the command")
    assert outcomes["list"].error.startswith("PermanentFailure: {files} is '--all'")


def test_detected_templates_never_let_a_value_become_an_option() -> None:
    for name, profile in BUILTIN_TOOLS.items():
        values = {field: "-v" for part in profile.template for field in fields(part)}
        argv = render_argv(profile.template, values)
        assert "-v" in argv or any(a.endswith("=-v") for a in argv), name


async def test_what_cannot_run_fails_at_once(tmp_path, config, pool) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program\n")
    big = "x" * 200_000  # one argument over Linux's 128 KiB limit per argument
    payloads = [
        ({"tool": "no-such-tool-anywhere", "arg": "a"}, "no such program"),
        ({"tool": str(plain), "arg": "a"}, "permission denied"),
        ({"tool": "echo", "arg": big}, "too long for the system (E2BIG"),
    ]
    cfg = config(
        pool("t", ["t"], template=["{tool}", "{arg}"]),
        pool("sh", ["sh"], shell="no-such-tool-anywhere -- {x}"),
    )
    async with orchestrator(cfg) as orch:
        outcomes = [
            await (await orch.submit(TaskSpec("t", p, requires={"t"}, max_attempts=3))).result(30)
            for p, _ in payloads
        ]
        spec = TaskSpec("sh", {"x": "a"}, requires={"sh"}, max_attempts=3)
        shell = await (await orch.submit(spec)).result(30)
    for (payload, reason), outcome in zip(payloads, outcomes, strict=True):
        assert outcome.state is TaskState.FAILED
        assert outcome.attempts == 1
        assert outcome.error.startswith(f"PermanentFailure: cannot run {payload['tool']!r}: ")
        assert reason in outcome.error
    assert shell.state is TaskState.FAILED
    assert shell.attempts == 1
    assert shell.error.startswith(
        "PermanentFailure: /bin/sh exited with code 127 (a command was not found): "
    )
    assert "no-such-tool-anywhere" in shell.error


async def test_python_is_the_orchestrators_own_interpreter(tmp_path, config, pool) -> None:
    agent = Path(__file__).parent / "agents" / "library_agent.py"
    no_path = {"PATH": str(tmp_path / "empty")}  # no python to find on PATH
    cfg = config(
        pool("proto", ["echo"], command=["{python}", str(agent)], env=no_path),
        pool(
            "tool",
            ["tool"],
            template=["{python}", "-c", "import sys; print(sys.executable, sys.argv[1])", "{x}"],
            env=no_path,
        ),
    )
    async with orchestrator(cfg) as orch:
        echo = await (await orch.submit(TaskSpec("echo", "hi", requires={"echo"}))).result(30)
        spec = TaskSpec("tool", {"x": "$(id)"}, requires={"tool"})
        tool = await (await orch.submit(spec)).result(30)
    assert echo.state is TaskState.SUCCEEDED, echo.error
    assert tool.value["stdout"] == f"{PYTHON} $(id)\n"
