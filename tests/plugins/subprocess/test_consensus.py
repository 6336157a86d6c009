"""Fan one task out to several tools and take the answer most of them agree on."""

from __future__ import annotations

import sys

from alveary import TaskSpec, TaskState
from alveary.testing import orchestrator
from alveary_subprocess import consensus

ADD = "import sys; print(int(sys.argv[1]) + int(sys.argv[2]))"


async def test_the_majority_answer_wins(config, pool) -> None:
    cfg = config(
        pool("sh", ["math", "tool:sh"], shell="expr {a} + {b}"),
        pool("py", ["math", "tool:py"], template=[sys.executable, "-c", ADD, "{a}", "{b}"]),
        pool("off", ["math", "tool:off"], shell="expr {a} + {b} + 1"),
        pool("broken", ["math", "tool:broken"], shell="exit 9"),
    )
    async with orchestrator(cfg) as orch:
        spec = TaskSpec("math", {"a": 2, "b": 2}, requires={"math"}, max_attempts=1)
        result = await consensus(orch, spec, ["off", "sh", "py", "broken"])
    assert result.answer["stdout"] == "4\n"
    assert result.agreeing == ("sh", "py")
    assert result.agreement == 0.5
    assert result.outcomes["off"].value["stdout"] == "5\n"
    assert result.outcomes["broken"].state is TaskState.DEAD
    # each copy ran on its own tool
    assert result.outcomes["py"].agent_id != result.outcomes["sh"].agent_id


async def test_no_success_means_no_answer(config, pool) -> None:
    cfg = config(pool("broken", ["x", "tool:broken"], shell="exit 1"))
    async with orchestrator(cfg) as orch:
        result = await consensus(orch, TaskSpec("x", None, max_attempts=1), ["broken"])
    assert result.answer is None
    assert result.agreeing == ()
    assert result.agreement == 0.0


async def test_a_tool_that_does_not_answer_in_time_is_cancelled_and_the_rest_decide(
    config, pool
) -> None:
    cfg = config(
        pool("sh", ["math", "tool:sh"], shell="expr {a} + {b}"),
        pool("py", ["math", "tool:py"], template=[sys.executable, "-c", ADD, "{a}", "{b}"]),
        pool("stuck", ["math", "tool:stuck"], shell="sleep 30"),
    )
    async with orchestrator(cfg) as orch:
        spec = TaskSpec("math", {"a": 1, "b": 2}, requires={"math"}, max_attempts=1)
        result = await consensus(orch, spec, ["sh", "py", "stuck"], timeout=5)
    assert result.answer["stdout"] == "3\n"
    assert result.agreeing == ("sh", "py")
    assert result.outcomes["stuck"].state is TaskState.CANCELLED
