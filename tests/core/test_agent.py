"""``alveary.agent``, the reference library for protocol agents, run as a real process and
spoken to over pipes the way a runtime does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from alveary.agent import PROTOCOL, Job, ProtocolAgent, agent
from alveary.wire import Hello

AGENT = """
    import asyncio, time
    from alveary import PermanentFailure
    from alveary.agent import agent

    @agent(capabilities=["echo"], capacity=3, version="0.9")
    async def work(job):
        if job.kind == "slow":
            await asyncio.sleep(job.payload)
        if job.kind == "object":
            return object()
        if job.kind == "permanent":
            raise PermanentFailure("bad input")
        if job.kind == "boom":
            raise RuntimeError("transient")
        return {"kind": job.kind, "payload": job.payload, "attempt": job.attempt}

    def blocking(job):
        time.sleep(0.05)
        return job.payload * 2

    threaded = agent(blocking)

    if __name__ == "__main__":
        import sys
        (threaded if sys.argv[1:] == ["sync"] else work).run()
"""


class Peer:
    """The orchestrator's side of a pipe pair to an agent process."""

    def __init__(self, tmp_path: Path, *args: str, source: str = AGENT, **env: str) -> None:
        script = tmp_path / "agent.py"
        script.write_text(textwrap.dedent(source))
        self.process = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
        )

    def send(self, message: dict[str, Any] | str) -> None:
        line = message if isinstance(message, str) else json.dumps(message)
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the agent closed its output"
        message: dict[str, Any] = json.loads(line)
        return message

    def task(self, id: str, kind: str, payload: Any = None) -> None:
        self.send(
            {"type": "task", "id": id, "task": id, "kind": kind, "attempt": 1, "payload": payload}
        )

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def finish(self) -> tuple[int, str]:
        _, err = self.process.communicate(timeout=10)
        return self.process.returncode, err.decode()


def test_the_decorator_keeps_the_function_callable() -> None:
    @agent
    def plain(job: Job) -> Any:
        return job.payload

    @agent(capabilities="review", capacity=2, name="reviewer", version="3")
    def configured(job: Job) -> Any:
        return job.kind

    assert isinstance(plain, ProtocolAgent)
    assert plain(Job("1", "k", 42)) == 42
    assert configured(Job("1", "review", None)) == "review"
    assert configured.hello() == Hello(PROTOCOL, "reviewer", frozenset({"review"}), 2, "3")
    assert plain.hello().capabilities is None  # none declared: the config decides
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        agent(capacity=0)(plain.fn)


def test_tasks_results_and_errors(tmp_path) -> None:
    peer = Peer(tmp_path)
    hello = peer.receive()
    assert hello["type"] == "hello"
    assert hello["capabilities"] == ["echo"]
    assert hello["capacity"] == 3
    assert hello["version"] == "0.9"
    peer.task("a", "echo", {"x": [1, 2]})
    assert peer.receive() == {
        "type": "result",
        "id": "a",
        "value": {"kind": "echo", "payload": {"x": [1, 2]}, "attempt": 1},
    }
    for id, kind in (("b", "permanent"), ("c", "boom"), ("d", "object")):
        peer.task(id, kind)
    replies = {m["id"]: m for m in (peer.receive() for _ in range(3))}
    assert replies["b"] == {
        "type": "error",
        "id": "b",
        "message": "bad input",
        "retry": False,
    }
    assert replies["c"]["message"] == "RuntimeError: transient"
    assert replies["c"]["retry"]
    assert replies["d"]["retry"] is False
    assert replies["d"]["message"].startswith("the result is not JSON")
    peer.send({"type": "shutdown"})
    assert peer.finish()[0] == 0


def test_garbage_and_unknown_messages_are_ignored(tmp_path) -> None:
    peer = Peer(tmp_path)
    peer.receive()
    peer.send("this is not json")
    peer.send({"type": "gossip", "future": True})
    peer.send({"type": "task", "kind": "no id"})
    peer.task("e", "echo", 1)
    assert peer.receive()["id"] == "e"
    peer.send({"type": "shutdown"})
    code, err = peer.finish()
    assert code == 0
    assert "not JSON" in err
    assert "unknown type 'gossip'" in err
    assert 'task: no string "id"' in err


def test_an_overlong_line_is_reported_and_dropped(tmp_path) -> None:
    peer = Peer(tmp_path, ALVEARY_MAX_LINE="1000")
    peer.receive()
    peer.task("big", "echo", "x" * 5000)  # a task the agent cannot take: dropped, not answered
    peer.task("small", "echo", "x")
    assert peer.receive()["id"] == "small"
    peer.send({"type": "shutdown"})
    code, err = peer.finish()
    assert code == 0
    assert "ignoring line 1: 5089 bytes, longer than max_line (1000); dropped\n" in err


def test_cancel_stops_a_running_job(tmp_path) -> None:
    peer = Peer(tmp_path)
    peer.receive()
    peer.task("slow", "slow", 3600)
    peer.send({"type": "cancel", "id": "slow"})
    assert peer.receive() == {"type": "error", "id": "slow", "message": "cancelled", "retry": False}
    peer.send({"type": "shutdown"})
    assert peer.finish()[0] == 0


def test_shutdown_lets_running_jobs_finish(tmp_path) -> None:
    peer = Peer(tmp_path)
    peer.receive()
    peer.task("s", "slow", 0.2)
    peer.send({"type": "shutdown"})
    assert peer.receive()["id"] == "s"
    assert peer.finish()[0] == 0


def test_end_of_input_ends_the_agent(tmp_path) -> None:
    peer = Peer(tmp_path)
    peer.receive()
    peer.task("s", "slow", 3600)
    assert peer.process.stdin is not None
    peer.process.stdin.close()  # the orchestrator went away: the running job is cancelled
    assert peer.process.wait(timeout=10) == 0
    assert peer.receive() == {"type": "error", "id": "s", "message": "cancelled", "retry": False}
    peer.close()


def test_input_from_a_regular_file_works_too(tmp_path) -> None:
    # Not a pipe: the library reads it from a thread instead of the event loop.
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(AGENT))
    inbox = tmp_path / "inbox.jsonl"
    inbox.write_text(
        json.dumps({"type": "task", "id": "f", "kind": "echo", "payload": [1]})
        + "\n"
        + json.dumps({"type": "shutdown"})
    )
    with inbox.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, str(script)], stdin=stdin, capture_output=True, timeout=30
        )
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["type"] for r in replies] == ["hello", "result"]
    assert replies[1]["value"]["payload"] == [1]
    assert done.returncode == 0


def test_plain_functions_run_in_threads(tmp_path) -> None:
    peer = Peer(tmp_path, "sync")
    assert "capabilities" not in peer.receive()
    for i in range(3):
        peer.task(str(i), "double", i)
    assert sorted(peer.receive()["value"] for _ in range(3)) == [0, 2, 4]
    peer.send({"type": "shutdown"})
    assert peer.finish()[0] == 0


HEAVY = ("pluggy", "cattrs", "structlog", "stevedore", "attrs", "asyncio", "inspect")


def test_importing_the_library_loads_no_kernel_dependency() -> None:
    # A fresh interpreter: what an agent process pays before its hello.
    code = "import sys, alveary.agent; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = set(done.stdout.split())
    assert "alveary.agent" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY) == []
    kernel = {m for m in loaded if m.startswith("alveary.")}
    assert kernel <= {"alveary.agent", "alveary._serve", "alveary._errors", "alveary.wire"} | {
        "alveary.wire._messages",
        "alveary.wire._decoder",
    }


def test_the_package_imports_its_names_on_first_use() -> None:
    code = (
        "import sys, alveary; before = set(sys.modules); "
        "from alveary import Orchestrator, __version__; "
        "print('pluggy' in before, 'pluggy' in sys.modules, "
        "sorted(set(alveary.__all__) - set(dir(alveary))), Orchestrator.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split(" ", 2) == ["False", "True", "[] alveary._orchestrator\n"]


def test_the_protocol_page_agent_runs(tmp_path) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "agent-protocol.md").read_text()
    code = page.split("```python\n# reviewer.py\n", 1)[1].split("```", 1)[0]
    peer = Peer(tmp_path, source=code)
    assert peer.receive()["capabilities"] == ["review"]
    peer.task("a", "review", {"path": "a.py"})
    assert peer.receive()["message"] == "reading a.py"
    assert peer.receive() == {"type": "result", "id": "a", "value": {"ok": True}}
    peer.task("b", "review", {"path": "b.txt"})
    assert peer.receive()["type"] == "log"
    assert peer.receive() == {
        "type": "error",
        "id": "b",
        "message": "only Python files",
        "retry": False,
    }
    peer.send({"type": "shutdown"})
    assert peer.finish()[0] == 0
