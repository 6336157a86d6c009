"""Webhooks against a real HTTP receiver on loopback that checks signatures, fails, hangs
and goes away."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from alveary import AgentSpec, Orchestrator, PluginError, StartFailed, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator, until
from alveary_hooks import SIGNATURE, sign

FAST = {"backoff": 0.01, "backoff_max": 0.05, "secret_env": "HOOK_SECRET"}


def hooks(*webhooks: dict[str, Any]) -> dict[str, Any]:
    return {"plugins": {"enabled": ["hooks"], "hooks": {"webhooks": list(webhooks)}}}


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")


async def run_tasks(orch: Any, n: int, kind: str = "k") -> list[Any]:
    handles = [await orch.submit(TaskSpec(kind, payload=i, requires={"echo"})) for i in range(n)]
    return [await h.result(timeout=60) for h in handles]


def echo(capacity: int = 4) -> AgentSpec:
    return AgentSpec("a1", {"echo"}, capacity=capacity, options={"handler": "alveary.testing:echo"})


async def test_events_arrive_signed_and_in_order(receiver: Any) -> None:
    hook = {"url": receiver.url, "on": ["task.succeeded"], "secret_env": "HOOK_SECRET"}
    async with orchestrator(hooks(hook)) as orch:
        await orch.register(echo())
        outcomes = await run_tasks(orch, 5)
        plugin = orch.plugins["hooks"]
        delivered = lambda: plugin.stats()["webhooks"]["127.0.0.1"]["delivered"]  # noqa: E731
        await until(lambda: delivered() == 5, timeout=60)  # counted once answered
        stats = plugin.stats()["webhooks"]["127.0.0.1"]
    assert receiver.bad_signatures == 0
    request = receiver.requests[0]
    assert request["headers"]["x-alveary-signature"] == sign(b"s3cret", request["body"])
    assert request["headers"]["x-alveary-event"] == "task.succeeded"
    assert request["headers"]["content-type"] == "application/json"
    assert len({e["task_id"] for e in receiver.events()}) == 5
    assert all(o.ok for o in outcomes)
    seqs = [e["seq"] for e in receiver.events()]
    assert seqs == sorted(seqs)
    assert (stats["delivered"], stats["failed"]) == (5, 0)
    assert SIGNATURE == "X-Alveary-Signature"


async def test_a_receiver_failing_at_first_gets_every_event_after_retries(
    receiver: Any,
) -> None:
    receiver.fail_first = 3
    hook = {"url": receiver.url, "on": ["task.succeeded"], **FAST}
    async with orchestrator(hooks(hook)) as orch:
        await orch.register(echo())
        await run_tasks(orch, 3)
        await until(lambda: len(receiver.accepted) == 3, timeout=60)
        stats = orch.plugins["hooks"].stats()["webhooks"]["127.0.0.1"]
    assert stats["retries"] == 3
    deliveries = [r["headers"]["x-alveary-delivery"] for r in receiver.requests[:4]]
    assert len(set(deliveries)) == 1  # the same delivery, tried again


async def test_a_receiver_down_for_good_fills_the_dead_letter_file(
    receiver: Any, tmp_path: Path
) -> None:
    receiver.mode = "fail"
    dead = tmp_path / "dead" / "letters.jsonl"
    hook = {
        "url": receiver.url,
        "on": ["task.succeeded"],
        "retries": 2,
        "dead_letter": str(dead),
        "name": "down",
        **FAST,
    }
    rec = EventRecorder()
    async with orchestrator(hooks(hook), rec) as orch:
        await orch.register(echo())
        outcomes = await run_tasks(orch, 3)
        await until(lambda: len(rec.of("hook.failed")) == 3, timeout=60)
        stats = orch.plugins["hooks"].stats()["webhooks"]["down"]
    assert all(o.ok for o in outcomes)  # dispatch never waited for the receiver
    assert len(receiver.requests) == 3 * 3
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [letter["event"]["type"] for letter in letters] == ["task.succeeded"] * 3
    assert letters[0]["error"] == "HTTP 500 (after 3 tries)"
    assert letters[0]["webhook"] == "down"
    assert rec.of("hook.failed")[0].data == {
        "kind": "webhook",
        "hook": "down",
        "events": 1,
        "error": "HTTP 500 (after 3 tries)",
    }
    assert (stats["failed"], stats["retries"], stats["delivered"]) == (3, 6, 0)


async def test_a_receiver_that_hangs_never_holds_dispatch(receiver: Any, tmp_path: Path) -> None:
    receiver.mode = "hang"
    dead = tmp_path / "dead.jsonl"
    hook = {
        "url": receiver.url,
        "on": ["task.*"],
        "timeout": 0.2,
        "retries": 1,
        "queue": 5,
        "dead_letter": str(dead),
        "name": "hung",
        **FAST,
    }
    async with orchestrator(hooks(hook)) as orch:
        await orch.register(echo())
        outcomes = await run_tasks(orch, 50)
        await until(lambda: dead.exists(), timeout=60)
        plugin = orch.plugins["hooks"]
    stats = plugin.stats()["webhooks"]["hung"]  # stopped: what was left is dead-lettered
    assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 50
    assert stats["dropped"] > 0  # its queue of 5 was full most of the time
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert letters[0]["error"] == "no answer within 0.2 s (after 2 tries)"
    # Nothing is lost silently: every event was dropped (counted) or dead-lettered, what was
    # queued when the orchestrator stopped too.
    assert stats["failed"] == len(letters)
    assert letters[-1]["error"] == "not delivered before the orchestrator stopped"


async def test_a_receiver_that_goes_away(receiver: Any, tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    hook = {"url": receiver.url, "on": ["task.succeeded"], "dead_letter": str(dead), **FAST}
    async with orchestrator(hooks(hook)) as orch:
        await orch.register(echo())
        await run_tasks(orch, 2)
        await until(lambda: len(receiver.accepted) == 2, timeout=60)
        await receiver.close()
        await run_tasks(orch, 2)
        await until(lambda: dead.exists() and len(dead.read_text().splitlines()) == 2, 60)
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert letters[0]["error"].startswith("ConnectError")
    assert letters[0]["error"].endswith("(after 6 tries)")


async def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried(
    receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "wrong")
    rec = EventRecorder()
    hook = {"url": receiver.url, "on": ["orchestrator.started"], "secret_env": "HOOK_SECRET"}
    async with orchestrator(hooks(hook), rec):
        failed = await rec.wait_for("hook.failed", timeout=60)
    assert failed.data["error"] == "HTTP 401 (not retried) (after 1 try)"
    assert receiver.bad_signatures == 1


async def test_a_missing_secret_stops_the_start_with_one_line() -> None:
    hook = {"url": "http://127.0.0.1:9/x", "on": ["task.*"], "secret_env": "NOT_SET_ANYWHERE"}
    with pytest.raises(StartFailed, match="webhook secret NOT_SET_ANYWHERE is not set"):
        async with orchestrator(hooks(hook)):
            pass


async def test_batches_of_at_most_100_flushed_after_a_second(receiver: Any) -> None:
    receiver.release = asyncio.Event()  # the first request waits: the queue fills up
    hook = {"url": receiver.url, "on": ["task.succeeded"], "batch": 100, "flush": 1.0, **FAST}
    async with orchestrator(hooks(hook)) as orch:
        await orch.register(echo(capacity=16))
        await run_tasks(orch, 250)
        receiver.release.set()
        await until(lambda: len(receiver.events()) == 250, timeout=60)
        await run_tasks(orch, 1)  # alone: sent when its second is over
        await until(lambda: len(receiver.events()) == 251, timeout=60)
    sizes = [len(body) for body in receiver.accepted]
    assert all(isinstance(body, list) for body in receiver.accepted)
    assert max(sizes) == 100
    assert sizes[-1] == 1
    assert receiver.requests[0]["headers"]["x-alveary-event"] == "batch"


async def test_random_sampling_keeps_a_share(receiver: Any) -> None:
    hook = {
        "url": receiver.url,
        "on": ["task.succeeded"],
        "sample": "random",
        "sample_rate": 0.5,
        "batch": 50,
        **FAST,
    }
    async with orchestrator(hooks(hook)) as orch:
        await orch.register(echo(capacity=16))
        await run_tasks(orch, 1000)
        stats = orch.plugins["hooks"].stats()["webhooks"]["127.0.0.1"]
        await until(lambda: len(receiver.events()) == 1000 - stats["sampled_out"], timeout=60)
    assert 0 < stats["sampled_out"] < 1000  # 1,000 coin tosses: never all heads or tails


async def test_adaptive_sampling_thins_events_as_a_slow_receiver_falls_behind(
    receiver: Any,
) -> None:
    receiver.mode = "hang"  # nothing is delivered: the queue only grows
    hook = {
        "url": receiver.url,
        "on": ["task.succeeded"],
        "sample": "adaptive",
        "sample_rate": 0.05,
        "queue": 100,
        "timeout": 60,
        **FAST,
    }
    async with orchestrator(hooks(hook)) as orch:
        await orch.register(echo(capacity=16))
        await run_tasks(orch, 1000)
        stats = orch.plugins["hooks"].stats()["webhooks"]["127.0.0.1"]
    # the first 50 are kept (half the queue), then ever fewer: far fewer than 1,000 - 100
    # are dropped for a full queue, and most of the rest were sampled out instead
    assert stats["sampled_out"] > 500
    assert stats["dropped"] < 1000 - 100 - 500
    assert stats["sampled_out"] + stats["dropped"] <= 1000 - 50


def test_adaptive_sampling_needs_a_share_below_one() -> None:
    with pytest.raises(
        PluginError, match=r"webhooks\[0\]\.sample_rate: with sample = \"adaptive\""
    ):
        Orchestrator.from_config(
            hooks({"url": "http://127.0.0.1:9/", "on": ["*"], "sample": "adaptive"})
        )


async def test_rate_sampling_keeps_at_most_the_rate(receiver: Any) -> None:
    hook = {
        "url": receiver.url,
        "on": ["task.succeeded"],
        "sample": "rate",
        "max_rate": 5,
        "batch": 50,
        **FAST,
    }
    async with orchestrator(hooks(hook)) as orch:
        await orch.register(echo(capacity=16))
        started = time.monotonic()
        await run_tasks(orch, 1000)
        elapsed = time.monotonic() - started
        stats = orch.plugins["hooks"].stats()["webhooks"]["127.0.0.1"]
        await until(lambda: len(receiver.events()) == 1000 - stats["sampled_out"], timeout=60)
    # a burst of 5, then 5 a second: however slow the machine, never more than that
    assert 5 <= len(receiver.events()) <= 5 + 5 * elapsed + 1
