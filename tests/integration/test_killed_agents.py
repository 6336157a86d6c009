"""Protocol agents killed with SIGKILL mid-task, again and again, with the health plugin on.

A pool of real long-lived agent processes (the ``subprocess`` runtime, agents written with
``alveary.agent``) works through a batch of tasks while busy agents are killed one after
another. No task is lost: each ends in exactly one terminal state, every attempt cut short by
a kill is run again (or the task ends ``dead`` saying its agent was killed), the pool gets back
to its size with fresh processes, and the orchestrator keeps serving.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import alveary
from alveary import AgentState, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator, until
from alveary_health import Health
from alveary_subprocess import SubprocessRuntime

SIZE = 3
TASKS = 60
KILLS = 12
KILL_EVERY = 0.15
"""Seconds between two kills: the pace of the fault injection."""

AGENT = '''\
"""An agent whose jobs each wait 60-100 ms, like a call to a remote model, then answer."""

import asyncio

from alveary.agent import Job, agent


@agent(capabilities={"square"}, capacity=1)
async def square(job: Job) -> dict[str, int]:
    await asyncio.sleep(0.06 + (job.payload % 5) / 100)
    return {"n": job.payload, "square": job.payload**2, "attempt": job.attempt}


if __name__ == "__main__":
    square.run()
'''

LOST = re.compile(
    r"AgentLost: (cannot write to the agent: )?"
    r"(the process was killed by SIGKILL|its standard input is closed)"
)
"""How an attempt on a killed agent fails: cut off by its death, or sent to it in the moment
between its death and its removal (the kernel routes to it until the runtime reports it)."""

TERMINAL = {"task.succeeded", "task.failed", "task.cancelled", "task.dead"}
NEXT = {
    "": {"task.pending"},
    "task.pending": {"task.queued", "task.assigned"},
    "task.queued": {"task.assigned"},
    "task.assigned": {"task.running", "task.pending", "task.dead"},
    "task.running": {"task.succeeded", "task.pending", "task.dead"},
}
"""The task events that may follow each one here (no permanent failures, no cancels)."""


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: the agent, its process and the tasks it was running at that moment."""

    agent_id: str
    name: str
    pid: int
    tasks: frozenset[str]


@dataclass(frozen=True)
class Attempt:
    """One attempt of a task, from its events: where it ran and how it ended."""

    task_id: str
    number: int
    agent_id: str
    end: str
    error: str


def square(n: int) -> TaskSpec:
    return TaskSpec("square", n, requires={"square"})


def config(tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "square_agent.py"
    script.write_text(AGENT, encoding="utf-8")
    return {
        "plugins": {
            "enabled": ["subprocess", "health"],
            "subprocess": {"log_dir": str(tmp_path / "logs")},
            # Checks as often as the ticks, heartbeats every second: the plugin judges the
            # agents while they die and are replaced.
            "health": {"check_interval": 0.05, "heartbeat_interval": 1.0},
        },
        # The pool's restarts back off after repeated failures; short here so it refills.
        "orchestrator": {"restart_base": 0.02, "restart_max": 0.2},
        "pools": [
            {
                "name": "squares",
                "runtime": "subprocess",
                "size": {"min": SIZE, "max": SIZE},
                "capabilities": ["square"],
                "capacity": 1,
                "options": {"command": [sys.executable, str(script)], "grace": 1.0},
            }
        ],
    }


async def kill_busy_agents(
    orch: alveary.Orchestrator,
    runtime: SubprocessRuntime,
    handles: list[alveary.TaskHandle],
    rng: random.Random,
    timeout: float = 10.0,
) -> list[Kill]:
    """Every ``KILL_EVERY`` seconds SIGKILL the process of a random agent that has a task in
    flight, until ``KILLS`` processes are dead; fail if that takes more than ``timeout``."""
    kills: list[Kill] = []
    deadline = time.monotonic() + timeout
    while len(kills) < KILLS:
        await asyncio.sleep(KILL_EVERY)
        assert not all(h.done() for h in handles), f"the work ended after {len(kills)} kills"
        assert time.monotonic() < deadline, f"no busy agent left to kill after {len(kills)} kills"
        dead = {k.agent_id for k in kills}
        busy = [
            (agent, pid)
            for agent in orch.agents()
            if agent.in_flight
            and agent.id not in dead
            and agent.state in (AgentState.READY, AgentState.BUSY)
            and (pid := runtime.pid(agent)) is not None
        ]
        if not busy:  # every agent is being replaced right now: try at the next beat
            continue
        agent, pid = rng.choice(busy)
        running = frozenset(
            h.id
            for h in handles
            if h.task.agent_id == agent.id
            and h.task.state in (TaskState.ASSIGNED, TaskState.RUNNING)
        )
        os.kill(pid, signal.SIGKILL)
        kills.append(Kill(agent.id, agent.name, pid, running))
    return kills


def attempts_of(task_id: str, recorder: EventRecorder) -> list[Attempt]:
    """The task's attempts: each ``task.assigned`` with the event that ended it."""
    events = [e for e in recorder.events if e.task_id == task_id]
    found = []
    for i, event in enumerate(events):
        if event.type != "task.assigned":
            continue
        end = next(e for e in events[i + 1 :] if e.type == "task.pending" or e.type in TERMINAL)
        found.append(
            Attempt(
                task_id,
                event.data["attempt"],
                event.agent_id or "",
                end.type,
                end.data.get("error", ""),
            )
        )
    return found


def check_event_order(task_id: str, recorder: EventRecorder) -> None:
    """The task's events follow its life cycle and end with its one terminal event."""
    types = recorder.types(task_id)
    previous = ""
    for kind in types:
        assert kind in NEXT.get(previous, set()), f"{task_id}: {kind} after {previous}: {types}"
        previous = kind
    assert types[-1] in TERMINAL, types
    assert sum(kind in TERMINAL for kind in types) == 1, types


async def test_killing_busy_agents_loses_no_task(tmp_path: Path) -> None:
    recorder = EventRecorder()
    async with orchestrator(config(tmp_path), recorder) as orch:
        runtime = orch.runtimes["subprocess"]
        assert isinstance(runtime, SubprocessRuntime)
        pool = orch.pools["squares"]
        assert len(pool.agents) == SIZE
        handles = [await orch.submit(square(n)) for n in range(TASKS)]

        kills = await kill_busy_agents(orch, runtime, handles, random.Random())
        outcomes = [await h.result(timeout=20) for h in handles]

        def refilled() -> bool:
            agents = orch.agents()
            return len(agents) == SIZE and all(a.state is AgentState.READY for a in agents)

        await until(refilled)
        agents = orch.agents()
        pids = {runtime.pid(a) for a in agents}
        # The orchestrator still serves, on the replacements, at the first attempt.
        more = [await orch.submit(square(n)) for n in range(TASKS, TASKS + 2 * SIZE)]
        after = [await h.result(timeout=10) for h in more]
        metrics = orch.metrics()
        health = orch.plugins["health"]
        assert isinstance(health, Health)
        reports = {a.id: health.report(a.id)["status"] for a in agents}

    killed = {k.agent_id: k for k in kills}
    assert len(killed) == KILLS
    assert all(k.tasks for k in kills)  # each victim was busy when it was killed

    # Every task ended once, with the value of its last attempt.
    for n, (handle, outcome) in enumerate(zip(handles, outcomes, strict=True)):
        check_event_order(handle.id, recorder)
        assert outcome.state in (TaskState.SUCCEEDED, TaskState.DEAD), outcome
        if outcome.state is TaskState.SUCCEEDED:
            assert outcome.value["n"] == n
            assert outcome.value["square"] == n * n
            assert outcome.value["attempt"] == outcome.attempts

    # Every attempt cut short was cut by a kill, and its task ran again or died of it.
    lost: list[Attempt] = []
    tried: dict[str, list[Attempt]] = {}
    for handle, outcome in zip(handles, outcomes, strict=True):
        attempts = tried[handle.id] = attempts_of(handle.id, recorder)
        assert [a.number for a in attempts] == list(range(1, outcome.attempts + 1))
        for attempt in attempts:
            if attempt.end == "task.succeeded":
                continue
            lost.append(attempt)
            victim = killed.get(attempt.agent_id)
            assert victim is not None, f"{attempt} failed on an agent nobody killed"
            assert LOST.match(attempt.error) or attempt.error == f"agent {victim.name} failed"
            if attempt.end == "task.dead":
                assert outcome.state is TaskState.DEAD
                assert attempt.number == outcome.attempts == square(0).max_attempts
            else:
                assert outcome.attempts > attempt.number  # run again
    for kill in kills:  # what each victim ran when it died: lost and run again, or just done
        for task_id in kill.tasks:
            there = [a for a in tried[task_id] if a.agent_id == kill.agent_id]
            assert there, (kill, tried[task_id])
            assert all(a in lost or a.end == "task.succeeded" for a in there)
    assert len(lost) >= KILLS // 2, lost

    # The kernel heard of each death at once, with its cause, and the pool replaced each.
    failed = {
        e.agent_id: e.data["reason"]
        for e in recorder.events
        if e.type == "agent.health" and e.data["to"] == "failed"
    }
    assert set(failed) == set(killed)
    assert all(reason.startswith("the process was killed by SIGKILL") for reason in failed.values())
    assert pool.started == SIZE + KILLS
    assert len(agents) == SIZE
    assert not {k.name for k in kills} & {a.name for a in agents}
    assert None not in pids
    assert len(pids) == SIZE
    assert not {k.pid for k in kills} & pids
    assert set(reports.values()) == {"healthy"}

    # ...and the orchestrator stayed up: new work runs once, no plugin failed.
    assert [o.state for o in after] == [TaskState.SUCCEEDED] * len(after)
    assert all(o.attempts == 1 and o.agent_id in reports for o in after)
    assert metrics.plugin_failures == {}
    assert metrics.disabled_plugins == ()
    finished = metrics.tasks.get("succeeded", 0) + metrics.tasks.get("dead", 0)
    assert finished == TASKS + len(after)
    assert recorder.types()[-1] == "orchestrator.stopped"
