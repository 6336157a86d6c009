"""The command-line client, run in-process (in a thread, as it blocks) against a real
gateway: every command, the server's refusals, bad arguments, hostile ids and payloads."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from alveary import AgentSpec, Orchestrator, TaskSpec
from alveary_gateway import cli
from alveary_gateway.client import DEFAULT_URL, local_url

from .conftest import Served, config, echo, gateway_of

Command = Callable[[Sequence[str]], int]


class Run:
    """Runs a command against the served gateway and keeps what it printed."""

    def __init__(self, served: Served, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = served.gateway.url
        self.capsys = capsys

    async def __call__(self, command: Command, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        status = await asyncio.to_thread(command, ["--url", self.url, *argv])
        out, err = self.capsys.readouterr()
        return status, out, err

    async def refused(self, command: Command, *argv: str) -> str:
        """Bad arguments: argparse's status 2, its last stderr line."""
        with pytest.raises(SystemExit) as exited:
            await self(command, *argv)
        assert exited.value.code == 2
        err = self.capsys.readouterr().err
        assert "Traceback" not in err
        return err.splitlines()[-1]


@pytest.fixture
def run(served: Served, capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(served, capsys)


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    return err.strip()


async def test_submit_prints_the_id_and_task_shows_the_record(run: Run, served: Served) -> None:
    status, out, _ = await run(
        cli.submit_command, "echo", "--payload", "[1, 2]", "--requires", "echo"
    )
    assert status == 0
    task_id = out.strip()
    await served.orch.task(task_id).result(10)
    status, out, _ = await run(cli.task_command, task_id)
    assert status == 0
    shown = dict(line.split(":", 1) for line in out.splitlines())
    assert {k: v.strip() for k, v in shown.items()} | {
        "id": task_id,
        "state": "succeeded",
        "payload": "[1,2]",
        "value": "[1,2]",
    } == {k: v.strip() for k, v in shown.items()}
    status, out, _ = await run(cli.task_command, task_id, "--json")
    record = json.loads(out)
    assert record["value"] == [1, 2]
    assert record == (await served.client.get(f"/v1/tasks/{task_id}")).json()


@pytest.mark.parametrize(
    "payload",
    [
        {"q": 'it\'s "quoted"', "cmd": "$(rm -rf /) `id` ; echo $HOME"},
        "--rm -rf",
        "-5",
        -5,
        "plain text\nwith a newline",
        None,
    ],
)
async def test_a_hostile_payload_round_trips_exactly(run: Run, payload: Any) -> None:
    argv = ["echo", f"--payload={json.dumps(payload)}", "--requires", "echo", "--wait", "--json"]
    status, out, _ = await run(cli.submit_command, *argv)
    assert status == 0
    assert json.loads(out)["value"] == payload


async def test_wait_prints_a_string_value_as_it_is_and_others_as_json(run: Run) -> None:
    text = await run(
        cli.submit_command, "echo", "--payload", '"a b"', "--requires", "echo", "--wait"
    )
    assert text == (0, "a b\n", "")
    number = await run(
        cli.submit_command, "echo", "--payload", "1.5", "--requires", "echo", "--wait"
    )
    assert number == (0, "1.5\n", "")


async def test_a_kind_with_leading_dashes_is_taken_after_a_double_dash(run: Run) -> None:
    status, out, _ = await run(
        cli.submit_command, "--requires", "echo", "--wait", "30", "--json", "--", "--kind"
    )
    assert status == 0
    assert json.loads(out)["kind"] == "--kind"


async def test_every_option_reaches_the_task(run: Run) -> None:
    argv = ["echo", "--requires", "echo", "--priority", "high", "--timeout", "7.5"]
    argv += ["--max-attempts", "2", "--idempotency-key", "k1", "--affinity-key", "a1", "--json"]
    status, out, _ = await run(cli.submit_command, *argv)
    assert status == 0
    record = json.loads(out)
    assert (record["priority"], record["max_attempts"]) == ("high", 2)
    assert (record["idempotency_key"], record["affinity_key"]) == ("k1", "a1")
    again = await run(cli.submit_command, *argv)
    assert json.loads(again[1])["id"] == record["id"]  # the same key: the same task


async def test_a_failed_task_is_status_1_with_its_error(run: Run) -> None:
    status, out, err = await run(cli.submit_command, "boom", "--requires", "boom", "--wait")
    assert status == 1
    assert out == ""
    assert one_line(err).endswith("failed: PermanentFailure: broken on purpose")


async def test_a_wait_that_runs_out_then_cancel(run: Run, served: Served) -> None:
    status, out, err = await run(cli.submit_command, "hang", "--requires", "hang", "--wait", "0.2")
    assert status == 1
    task_id = one_line(err).split()[3]
    assert " is still " in err
    assert await run(cli.cancel_command, task_id) == (0, f"cancelled {task_id}\n", "")
    status, out, _ = await run(cli.cancel_command, task_id)
    assert (status, out) == (0, f"{task_id} had already ended: cancelled\n")
    assert served.orch.get_task(task_id).state.value == "cancelled"


async def test_a_task_nothing_could_take_says_why_while_it_waits(run: Run, served: Served) -> None:
    status, out, err = await run(
        cli.submit_command, "echo", "--requires", "gpu", "--requires", "echo", "--wait", "0.3"
    )
    assert status == 1
    waits, still = err.splitlines()
    task_id = waits.split()[3]
    assert waits == (
        f"alveary submit: task {task_id} waits: no registered agent and no pool has every "
        "capability it requires (echo, gpu)"
    )
    assert still.endswith(f"task {task_id} is still queued after 0.3s")
    status, out, _ = await run(cli.task_command, task_id)
    assert status == 0
    assert "\nwaiting:   no registered agent and no pool has every capability" in out
    await run(cli.cancel_command, task_id)
    status, out, err = await run(cli.submit_command, "echo", "--requires", "echo", "--wait")
    assert (status, err) == (0, "")  # nothing said of a task that can be placed


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--payload", "{bad"], "argument --payload: not JSON"),
        (["--payload", "NaN"], "NaN is not allowed"),
        (["--payload", "[" * 5000], "argument --payload: not JSON"),
        (["--timeout", "nan"], "argument --timeout: expected seconds >= 0"),
        (["--wait", "-1"], "argument --wait: expected seconds >= 0"),
        (["--priority", "urgent"], "argument --priority"),
        (["--max-attempts", "two"], "argument --max-attempts"),
    ],
)
async def test_bad_arguments_are_status_2_and_one_line(
    run: Run, argv: list[str], says: str
) -> None:
    assert says in await run.refused(cli.submit_command, "echo", *argv)


@pytest.mark.parametrize("task_id", ["nope", "a?b#c", "%2e%2e", "%2F", "$(id)", "-x"])
async def test_an_unknown_task_is_status_1_and_the_servers_one_line(run: Run, task_id: str) -> None:
    for command in (cli.task_command, cli.cancel_command, cli.requeue_command):
        status, out, err = await run(command, "--", task_id)
        assert (status, out) == (1, "")
        assert one_line(err).endswith(f": not_found: no task {task_id!r}")


@pytest.mark.parametrize("task_id", ["..", ".", "", "../agents", "x/requeue"])
async def test_a_path_is_not_a_task_id(run: Run, task_id: str) -> None:
    assert "not a task id" in await run.refused(cli.task_command, task_id)


async def test_a_failed_task_is_requeued_and_a_finished_one_is_a_conflict(
    run: Run, served: Served
) -> None:
    status, _, err = await run(cli.submit_command, "boom", "--requires", "boom", "--wait")
    task_id = err.split()[3]
    status, out, _ = await run(cli.requeue_command, task_id)
    assert (status, out.split()[:2]) == (0, ["requeued", f"{task_id}:"])
    status, out, _ = await run(cli.submit_command, "echo", "--requires", "echo", "--wait", "--json")
    done = json.loads(out)["id"]
    status, out, err = await run(cli.requeue_command, done)
    assert (status, out) == (1, "")
    assert one_line(err).startswith("alveary requeue: conflict: ")


async def test_tasks_follows_the_cursor_to_the_last_page(
    run: Run, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "PAGE", 2)
    ids = [
        (await run(cli.submit_command, "echo", "--requires", "echo", "--payload", str(i)))[
            1
        ].strip()
        for i in range(5)
    ]
    for task_id in ids:
        await served.orch.task(task_id).result(10)
    status, out, _ = await run(cli.tasks_command, "--json")
    assert [r["id"] for r in json.loads(out)] == ids
    status, out, _ = await run(cli.tasks_command)
    assert out.splitlines()[0].split() == ["ID", "STATE", "KIND", "ATTEMPTS", "AGENT", "SUBMITTED"]
    assert [line.split()[0] for line in out.splitlines()[1:]] == ids
    status, out, _ = await run(cli.tasks_command, "--limit", "3", "--json")
    assert status == 0
    assert [r["id"] for r in json.loads(out)] == ids[:3]
    none = await run(cli.tasks_command, "--state", "queued", "--kind", "echo")
    assert none[1].splitlines()[1:] == ["(none)"]


async def test_a_state_that_does_not_exist_is_a_bad_argument(run: Run) -> None:
    refused = await run.refused(cli.tasks_command, "--state", "bogus")
    assert "argument --state: expected one of pending, queued, assigned" in refused
    assert "expected an integer >= 1" in await run.refused(cli.tasks_command, "--limit", "0")
    status, out, _ = await run(cli.tasks_command, "--state", "DEAD")
    assert status == 0
    assert out.splitlines()[1:] == ["(none)"]


async def test_status_shows_pools_agents_and_the_queue(run: Run, served: Served) -> None:
    hanging = await served.orch.submit(TaskSpec("hang", None, requires={"hang"}))
    status, out, _ = await run(cli.status_command)
    assert status == 0
    assert out.startswith(f"{served.gateway.url}: ready")
    assert {"workers-1", "echoer", "hanger"} <= set(out.split())
    workers = next(line for line in out.splitlines() if line.startswith("workers "))
    assert workers.split()[:3] == ["workers", "local", "1-3"]
    assert out.rstrip().splitlines()[-1].startswith("tasks: 0 pending, 0 queued, ")
    status, out, _ = await run(cli.status_command, "--json")
    shown = json.loads(out)
    assert shown["ready"] == {"ok": True, "leader": None, "missing": None}
    assert [p["name"] for p in shown["pools"]] == ["workers"]
    assert int(shown["tasks"]["assigned"]) + int(shown["tasks"]["running"]) == 1
    await served.orch.cancel(hanging.id)


async def test_agents_list(run: Run) -> None:
    status, out, _ = await run(cli.agents_list_command)
    assert status == 0
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert sorted(names) == ["breaker", "echoer", "hanger", "workers-1"]
    status, out, _ = await run(cli.agents_list_command, "--json")
    assert {a["name"] for a in json.loads(out)} == set(names)


async def test_events_prints_the_replay_and_stops(run: Run, served: Served) -> None:
    await run(cli.submit_command, "echo", "--requires", "echo", "--payload", '"x"', "--wait")
    status, out, _ = await run(cli.events_command)
    assert status == 0
    types = [line.split()[3] for line in out.splitlines()]
    assert {"agent.ready", "task.succeeded"} <= set(types)
    status, out, _ = await run(cli.events_command, "--type", "task.succeeded", "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == ["task.succeeded"]
    assert events[0]["task_id"]


async def test_events_says_what_the_ring_lost_and_follows_past_another_streams_drop(
    run: Run, served: Served
) -> None:
    # A subscriber dropped elsewhere is an event for this one, which goes on.
    served.orch.emit("gateway.dropped", data={"reason": "another client fell behind"})
    status, out, err = await run(cli.events_command, "--type", "gateway.*")
    assert (status, err) == (0, "")
    assert "gateway.dropped" in out
    assert "another client fell behind" in out
    status, out, _ = await run(cli.events_command, "--type", "gateway.*", "--json")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["gateway.dropped"]


async def test_events_says_on_stderr_which_events_the_gateway_no_longer_keeps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with Orchestrator.from_config(config(replay=5)) as orch:
        await orch.register(AgentSpec("echoer", {"echo"}, options={"handler": echo}))
        for i in range(3):
            await (await orch.submit(TaskSpec("echo", i, requires={"echo"}))).result(10)
        url = gateway_of(orch).url
        capsys.readouterr()  # the start's log lines
        assert await asyncio.to_thread(cli.events_command, ["--url", url]) == 0
        out, err = capsys.readouterr()
        assert len(out.splitlines()) == 5
        oldest = int(out.split()[0])
        assert err == f"alveary events: the gateway no longer keeps events 1 to {oldest - 1}\n"
        assert await asyncio.to_thread(cli.events_command, ["--url", url, "--json"]) == 0
        gap, *events = map(json.loads, capsys.readouterr().out.splitlines())
        assert gap == {"type": "gateway.gap", "data": {"after": 0, "oldest": oldest}}
        assert len(events) == 5


async def test_a_server_that_is_not_there_is_one_line(run: Run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for command, argv in [(cli.status_command, []), (cli.submit_command, ["echo"])]:
        status = await asyncio.to_thread(command, [*argv, "--url", url])
        err = run.capsys.readouterr().err
        assert status == 1
        assert one_line(err).endswith(f"cannot reach {url}: connection refused")


async def test_a_url_that_is_not_http_is_a_bad_argument(run: Run) -> None:
    status = await asyncio.to_thread(cli.status_command, ["--url", "ftp://x"])
    assert status == 2
    assert "--url: expected http://host:port" in one_line(run.capsys.readouterr().err)


async def test_without_url_the_client_finds_the_gateway_of_alveary_toml(
    served: Served,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = served.gateway.url.rsplit(":", 1)[1]
    (tmp_path / "alveary.toml").write_text(
        f'[plugins]\nenabled = ["gateway"]\n\n[plugins.gateway]\nlisten = "0.0.0.0:{port}"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALVEARY_URL", raising=False)
    assert await asyncio.to_thread(cli.status_command, []) == 0
    assert capsys.readouterr().out.startswith(f"http://127.0.0.1:{port}: ready")
    monkeypatch.setenv("ALVEARY_URL", "http://127.0.0.1:9")  # the variable comes first
    assert await asyncio.to_thread(cli.status_command, []) == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "url"),
    [
        (None, DEFAULT_URL),
        ('[plugins.gateway]\nlisten = "127.0.0.1:9000"\n', "http://127.0.0.1:9000"),
        ('[plugins.gateway]\nlisten = "[::]:9000"\n', "http://[::1]:9000"),
        ('[plugins.gateway]\nlisten = "[::1]:9000"\ntls_cert = "c.pem"\n', "https://[::1]:9000"),
        ('[plugins.gateway]\nlisten = "127.0.0.1:0"\n', DEFAULT_URL),
        ("[plugins.gateway]\nlisten = 9000\n", DEFAULT_URL),
        ("[plugins]\nenabled = []\n", DEFAULT_URL),
        ("[plugins.gateway\n", DEFAULT_URL),
        ("fifo", DEFAULT_URL),
    ],
)
def test_the_local_url_is_the_listen_of_alveary_toml_or_the_default(
    tmp_path: Path, text: str | None, url: str
) -> None:
    config = tmp_path / "alveary.toml"
    if text == "fifo":
        os.mkfifo(config)
    elif text is not None:
        config.write_text(text)
    assert local_url(str(config)) == url
