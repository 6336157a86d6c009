"""Bad settings: one line each, naming the key, from ``alveary check`` with exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alveary import ConfigError, Orchestrator, PluginError

CASES = [
    (
        'command = ["x"]\non = ["task.*"]\ntimeout = nan',
        "plugins.hooks.commands[0].timeout: expected a finite number, got nan",
    ),
    (
        'command = ["x"]\non = ["task.*"]\ntimeout = -1',
        "plugins.hooks.commands[0].timeout: expected a number > 0, got -1.0",
    ),
    (
        'command = ["x"]\non = ["task.*"]\nmode = "sync"',
        "plugins.hooks.commands[0].mode: 'sync' is not one of background, blocking, critical",
    ),
    (
        'command = ["x"]\non = ["task.before"]',
        "plugins.hooks.commands[0].on: 'task.before' holds the attempt: only blocking and "
        "critical hooks run there (a background hook can follow 'task.running' or "
        "'task.succeeded')",
    ),
    (
        'command = ["x"]\non = ["task.failed"]\nmode = "critical"',
        "plugins.hooks.commands[0].on: a critical hook runs at 'task.before' or 'task.after' "
        "(the attempt waits for it), not at 'task.failed'",
    ),
    (
        'command = "notify-send $ALVEARY_TASK_ID"\non = ["task.*"]',
        "plugins.hooks.commands[0].command: expected a list, got 'notify-send $ALVEARY_TASK_ID'",
    ),
    (
        'command = []\non = ["task.*"]',
        "plugins.hooks.commands[0].command: expected a program and its arguments, got nothing",
    ),
    (
        'command = ["x"]\non = "task.failed"',
        "plugins.hooks.commands[0].on: expected a list, got 'task.failed'",
    ),
    (
        'command = ["x"]\non = ["task.*"]\nmatch = { kind = { nested = 1 } }',
        "plugins.hooks.commands[0].match: 'kind': expected a string, number or true/false, "
        "or a list of them",
    ),
    (
        'command = ["x"]\non = ["task.*"]\nenv = { "A B" = "1" }',
        "plugins.hooks.commands[0].env: 'A B' is not a valid environment variable",
    ),
    (
        'command = ["x"]\non = ["task.*"]\nretries = 1.5',
        "plugins.hooks.commands[0].retries: expected an integer, got 1.5",
    ),
    (
        'command = ["x"]\non = ["task.*"]\ncommand_line = "x"',
        "plugins.hooks.commands[0].command_line: unknown key (did you mean 'command'?)",
    ),
]


def write(tmp_path: Path, table: str, body: str) -> Path:
    path = tmp_path / "alveary.toml"
    path.write_text(f'[plugins]\nenabled = ["hooks"]\n\n[[plugins.hooks.{table}]]\n{body}\n')
    return path


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alveary._cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_a_bad_command_is_one_line_with_its_key(tmp_path: Path, body: str, expected: str) -> None:
    done = check(write(tmp_path, "commands", body))
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.endswith(expected), line
    assert line.startswith(f"{tmp_path / 'alveary.toml'}:")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("table", "body", "expected"),
    [
        (
            "webhooks",
            'url = "ftp://example.org"\non = ["task.*"]',
            "plugins.hooks.webhooks[0].url: expected an http:// or https:// URL, "
            "got 'ftp://example.org'",
        ),
        (
            "webhooks",
            'url = "https://example.org"\non = ["task.*"]\nsample = "sometimes"',
            "plugins.hooks.webhooks[0].sample: 'sometimes' is not one of none, random, rate, "
            "adaptive",
        ),
        (
            "webhooks",
            'url = "https://example.org"\non = ["task.*"]\nsample = "adaptive"',
            'plugins.hooks.webhooks[0].sample_rate: with sample = "adaptive", expected the share '
            "kept at a full queue, below 1",
        ),
        (
            "webhooks",
            'url = "https://example.org"\non = ["task.*"]\nsample_rate = 0',
            "plugins.hooks.webhooks[0].sample_rate: expected a number in (0, 1], got 0.0",
        ),
        (
            "webhooks",
            'url = "https://example.org"\non = ["task.*"]\nsecret_env = "$(id)"',
            "plugins.hooks.webhooks[0].secret_env: '$(id)' is not a valid environment "
            "variable name",
        ),
        (
            "webhooks",
            'url = "https://example.org"\non = ["task.*"]\nbackoff = inf',
            "plugins.hooks.webhooks[0].backoff: expected a finite number, got inf",
        ),
        (
            "gates",
            'command = ["pytest"]\ntimeout = nan',
            "plugins.hooks.gates[0].timeout: expected a finite number, got nan",
        ),
        ("gates", 'command = ["pytest"]\nrequired = "yes"', "expected true or false, got 'yes'"),
    ],
)
def test_bad_gates_and_webhooks_are_one_line_each(
    tmp_path: Path, table: str, body: str, expected: str
) -> None:
    done = check(write(tmp_path, table, body))
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.endswith(expected), line


def test_two_hooks_of_one_name_are_refused() -> None:
    commands = [{"command": ["/bin/notify", "a"], "on": ["task.*"]}] * 2
    with pytest.raises((ConfigError, PluginError)) as info:
        Orchestrator.from_config(
            {"plugins": {"enabled": ["hooks"], "hooks": {"commands": commands}}}
        )
    assert str(info.value).endswith(
        "plugins.hooks.commands: [1]: the name 'notify' is taken: give each a name of its own"
    )


def test_a_good_config_checks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "commands",
        'command = ["notify-send", "--", "task failed"]\non = ["task.failed", "agent.*"]\n'
        'match = { kind = ["review", "lint*"], "task.labels.team" = "core" }\ntimeout = 5',
    )
    done = check(path)
    assert done.returncode == 0, done.stderr
