"""An agent whose process died is routed nothing more while its end is being reported."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from alveary import AgentState, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator


async def test_a_dead_agent_gets_no_new_task_while_its_last_output_is_read(
    config, pool, agent_cmd, until, tmp_path: Path
) -> None:
    helper = tmp_path / "helper.pid"
    recorder = EventRecorder()
    cfg = config(
        {**pool("w", ["work"], command=agent_cmd("helper_agent.py", str(helper))), "capacity": 2},
        orchestrator={"restart_base": 0.0},
    )
    try:
        async with orchestrator(cfg, recorder) as orch:
            runtime = orch.plugins["subprocess"].runtime
            [first] = orch.agents()
            slow = await orch.submit(TaskSpec("work", "slow", requires={"work"}))
            await until(helper.exists)  # running it; the helper holds the agent's output open
            pid = runtime.pid(first)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await until(lambda: runtime.pid(first) is None)  # the runtime saw the exit
            # Its end is not reported yet (its output is still open): it looks ready, with
            # a free slot, and least-loaded would pick it.
            assert first.state is AgentState.READY
            assert first.in_flight == 1
            handles = [await orch.submit(TaskSpec("work", i, requires={"work"})) for i in range(4)]
            outcomes = [await h.result(timeout=20) for h in handles]
            retried = await slow.result(timeout=20)
    finally:
        if helper.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(helper.read_text()), signal.SIGKILL)
    assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 4
    assert [o.value for o in outcomes] == [["w-2", 1]] * 4  # first attempts, on the replacement
    assert retried.value == ["w-2", 2]
    errors = [e.data["error"] for e in recorder.events if "error" in e.data]
    assert not [e for e in errors if "cannot write" in e]
    assert len(errors) == 1  # the slow task's attempt on the agent that died
    assert errors[0].startswith("AgentLost: the process was killed by SIGKILL")
