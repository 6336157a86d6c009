"""One-shot mode: real CLI tools (sh, python -m json.tool, ruff) run once per task from a
template, with safe quoting, output caps, timeouts and kills of the whole process group."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from alveary import TaskSpec, TaskState
from alveary.testing import alive, orchestrator

PYTHON = sys.executable


async def run(cfg: dict, spec: TaskSpec):
    async with orchestrator(cfg) as orch:
        return await (await orch.submit(spec)).result(timeout=30)


async def test_payload_values_reach_the_tool_verbatim(tmp_path, config, pool) -> None:
    hostile = f"$(touch {tmp_path}/pwned); rm -rf nothing; \"a b\" 'c' `id` \\ \n;|&"
    template = ["sh", "-c", 'printf "%s" "$1"', "sh", "{text}"]
    outcome = await run(
        config(pool("echo", ["echo"], template=template)),
        TaskSpec("echo", {"text": hostile}, requires={"echo"}),
    )
    assert outcome.value == {"exit": 0, "stdout": hostile, "stderr": ""}
    assert not (tmp_path / "pwned").exists()


async def test_shell_mode_quotes_every_value(tmp_path, config, pool) -> None:
    shell = "printf '%s|' {words}; printf '%s' {text} > {workspace}/out.txt"
    options = {"shell": shell, "workspace": str(tmp_path / "ws")}
    payload = {"words": ["one", "two words", "$HOME"], "text": "$(id) ; `id`"}
    outcome = await run(
        config(pool("sh", ["sh"], **options)), TaskSpec("sh", payload, requires={"sh"})
    )
    assert outcome.value["stdout"] == "one|two words|$HOME|"
    assert (tmp_path / "ws" / "sh-1" / "out.txt").read_text() == "$(id) ; `id`"


async def test_json_tool_reads_the_payload_on_stdin(config, pool) -> None:
    options = {
        "template": [PYTHON, "-m", "json.tool", "--sort-keys"],
        "stdin": "{payload}",
        "output": "json",
    }
    payload = {"b": [1, 2.5, None], "a": "ü"}
    outcome = await run(
        config(pool("json", ["json"], **options)), TaskSpec("json", payload, requires={"json"})
    )
    assert outcome.state is TaskState.SUCCEEDED
    assert outcome.value["stdout"] == payload


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not on PATH")
async def test_ruff_findings_are_a_result_not_a_failure(tmp_path, config, pool) -> None:
    source = tmp_path / "module.py"
    source.write_text("import os\n")
    options = {
        "template": ["ruff", "check", "--isolated", "--output-format", "json", "{path}"],
        "ok_exit": [0, 1],
        "output": "json",
    }
    outcome = await run(
        config(pool("lint", ["lint"], **options)),
        TaskSpec("lint", {"path": str(source)}, requires={"lint"}),
    )
    assert outcome.value["exit"] == 1
    [finding] = outcome.value["stdout"]
    assert finding["code"] == "F401"
    assert finding["filename"] == str(source)


async def test_a_payload_missing_a_field_fails_at_once(config, pool) -> None:
    outcome = await run(
        config(pool("echo", ["echo"], template=["echo", "{prompt}"])),
        TaskSpec("echo", {"text": "hi"}, requires={"echo"}),
    )
    assert outcome.state is TaskState.FAILED
    assert outcome.attempts == 1
    assert outcome.error == (
        "PermanentFailure: the template needs {prompt}, which the task's payload does not "
        "have (payload keys: text)"
    )


async def test_a_failing_exit_status_is_retried_then_dead(config, pool) -> None:
    outcome = await run(
        config(pool("t", ["t"], shell="echo partial; echo boom >&2; exit 4")),
        TaskSpec("t", None, requires={"t"}, max_attempts=2),
    )
    assert outcome.state is TaskState.DEAD
    assert outcome.attempts == 2
    assert outcome.error == "ToolFailed: /bin/sh exited with code 4: boom"


async def test_output_beyond_the_cap_kills_the_tool(config, pool) -> None:
    outcome = await run(
        config(pool("y", ["y"], template=["yes", "flood"], max_output=10_000)),
        TaskSpec("y", None, requires={"y"}, max_attempts=1),
    )
    assert outcome.state is TaskState.DEAD
    assert outcome.error == (
        "ToolFailed: yes wrote more than max_output (10000 bytes) to stdout; "
        "its process group was killed"
    )


async def test_a_timeout_kills_the_whole_process_group(tmp_path, config, pool, until) -> None:
    # The tool ignores SIGTERM and leaves a grandchild that ignores it too: SIGKILL of the
    # group after the grace period takes both.
    pidfile = tmp_path / "child.pid"
    shell = f"trap '' TERM; sleep 1000 & echo $! > {pidfile}; wait"
    cfg = config(pool("stuck", ["stuck"], shell=shell, grace=0.2))
    async with orchestrator(cfg) as orch:
        spec = TaskSpec("stuck", None, requires={"stuck"}, timeout=0.5, max_attempts=1)
        outcome = await (await orch.submit(spec)).result(timeout=30)
        grandchild = int(pidfile.read_text())
        await until(lambda: not alive(grandchild))
    assert outcome.state is TaskState.DEAD
    assert outcome.error == "timed out after 0.5 s"
    log = (tmp_path / "logs" / "stuck-1.log").read_text()
    assert "cancelled; process group stopped" in log


async def test_the_agent_timeout_option_limits_each_run(config, pool) -> None:
    outcome = await run(
        config(pool("s", ["s"], template=["sleep", "60"], timeout=0.2, grace=0.1)),
        TaskSpec("s", None, requires={"s"}, max_attempts=1),
    )
    assert outcome.error == "ToolFailed: timed out after 0.2 s (options.timeout)"


async def test_environment_is_an_allow_list_and_secrets_are_masked(
    tmp_path, config, pool, monkeypatch
) -> None:
    monkeypatch.setenv("ALVEARY_TEST_TOKEN", "tok-123456")
    monkeypatch.setenv("ALVEARY_TEST_PRIVATE", "private")
    shell = (
        'echo "$ALVEARY_TEST_TOKEN"; echo "${ALVEARY_TEST_PRIVATE:-unset}"; '
        'echo "$ALVEARY_TEST_TOKEN" >&2'
    )
    options = {"shell": shell, "secrets": ["ALVEARY_TEST_TOKEN"]}
    outcome = await run(
        config(pool("env", ["env"], **options)), TaskSpec("env", None, requires={"env"})
    )
    assert outcome.value["stdout"] == "***\nunset\n"
    assert outcome.value["stderr"] == "***\n"
    log = (tmp_path / "logs" / "env-1.log").read_text()
    assert "tok-123456" not in log
    assert "***" in log


async def test_a_missing_secret_refuses_the_agent(config, pool, monkeypatch) -> None:
    monkeypatch.delenv("ALVEARY_TEST_ABSENT", raising=False)
    cfg = config(pool("env", ["env"], shell="true", secrets=["ALVEARY_TEST_ABSENT"]))
    async with orchestrator(cfg) as orch:
        assert orch.agents() == []


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS behaves this way on Linux")
async def test_a_memory_limit_stops_a_greedy_tool(config, pool) -> None:
    options = {
        "template": [PYTHON, "-c", "bytearray(2_000_000_000)"],
        "limits": {"memory": 500_000_000},
    }
    outcome = await run(
        config(pool("greedy", ["g"], **options)),
        TaskSpec("g", None, requires={"g"}, max_attempts=1),
    )
    assert outcome.state is TaskState.DEAD
    assert "exited with code 1" in outcome.error
    assert "MemoryError" in outcome.error


async def test_json_output_that_is_not_json_fails(config, pool) -> None:
    outcome = await run(
        config(pool("j", ["j"], template=["echo", "not json"], output="json")),
        TaskSpec("j", None, requires={"j"}, max_attempts=1),
    )
    assert outcome.error.startswith("ToolFailed: echo printed something that is not JSON")


async def test_template_fields_include_the_task_and_the_workspace(tmp_path, config, pool):
    template = ["echo", "{kind} {task_id} {attempt} {agent} {workspace} {payload}"]
    options = {"template": template, "workspace": str(tmp_path / "ws")}
    async with orchestrator(config(pool("f", ["f"], **options))) as orch:
        handle = await orch.submit(TaskSpec("f", [1, "x"], requires={"f"}))
        outcome = await handle.result(timeout=10)
    workspace = tmp_path / "ws" / "f-1"
    assert outcome.value["stdout"] == f'f {handle.id} 1 f-1 {workspace} [1,"x"]\n'
    assert json.loads(outcome.value["stdout"].split()[-1]) == [1, "x"]
