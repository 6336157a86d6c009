"""Per-agent workspaces: a directory each, or a git worktree on the agent's own branch."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from alveary import TaskSpec
from alveary.testing import alive, orchestrator, until
from alveary_subprocess import workspace


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "agents@example.org")
    git(path, "config", "user.name", "agents")
    (path / "README").write_text("hello\n")
    git(path, "add", "README")
    git(path, "commit", "-q", "-m", "first")
    return path


async def test_each_agent_gets_its_own_directory(tmp_path, config, pool) -> None:
    options = {"shell": "pwd; echo {payload} > note.txt", "workspace": str(tmp_path / "ws")}
    cfg = config(pool("w", ["w"], size=2, **options))
    async with orchestrator(cfg) as orch:
        assert sorted(p.name for p in (tmp_path / "ws").iterdir()) == ["w-1", "w-2"]
        outcome = await (await orch.submit(TaskSpec("w", "hello", requires={"w"}))).result(10)
    place = Path(outcome.value["stdout"].strip())
    assert place.parent == tmp_path / "ws"
    assert place.name in {"w-1", "w-2"}
    assert (place / "note.txt").read_text() == "hello\n"


async def test_a_worktree_per_agent_on_its_own_branch(tmp_path, repo, config, pool) -> None:
    shell = (
        "git rev-parse --abbrev-ref HEAD; echo {payload} > work.txt; git add .; git commit -qm w"
    )
    options = {"shell": shell, "workspace": str(tmp_path / "ws"), "worktree": {"repo": str(repo)}}
    async with orchestrator(config(pool("coder", ["code"], **options))) as orch:
        outcome = await (await orch.submit(TaskSpec("code", "done", requires={"code"}))).result(10)
        assert (tmp_path / "ws" / "coder-1" / "work.txt").read_text() == "done\n"
    assert outcome.value["stdout"] == "alveary/coder-1\n"
    # The checkout is gone with the agent; the branch and its commit stay.
    assert not (tmp_path / "ws" / "coder-1").exists()
    assert git(repo, "show", "alveary/coder-1:work.txt") == "done"
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"


async def test_an_agent_of_the_same_name_continues_its_branch(tmp_path, repo, config, pool):
    shell = "cat work.txt 2>/dev/null; echo {payload} >> work.txt; git add .; git commit -qm more"
    options = {"shell": shell, "workspace": str(tmp_path / "ws"), "worktree": {"repo": str(repo)}}
    for word in ("one", "two"):
        async with orchestrator(config(pool("coder", ["code"], **options))) as orch:
            last = await (await orch.submit(TaskSpec("code", word, requires={"code"}))).result(10)
    assert last.value["stdout"] == "one\n"
    assert git(repo, "show", "alveary/coder-1:work.txt") == "one\ntwo"


async def test_a_dirty_worktree_is_kept(tmp_path, repo, config, pool) -> None:
    options = {
        "shell": "echo unsaved > draft.txt",
        "workspace": str(tmp_path / "ws"),
        "worktree": {"repo": str(repo), "branch": "agents/{agent}"},
    }
    async with orchestrator(config(pool("coder", ["code"], **options))) as orch:
        await (await orch.submit(TaskSpec("code", None, requires={"code"}))).result(10)
    assert (tmp_path / "ws" / "coder-1" / "draft.txt").read_text() == "unsaved\n"
    assert "worktree" in (tmp_path / "logs" / "coder-1.log").read_text()
    assert git(repo, "rev-parse", "--verify", "agents/coder-1")


async def test_a_cancelled_git_command_leaves_nothing_running(tmp_path, repo) -> None:
    # A git command whose caller gives up (the agent's start was cancelled) must not run on:
    # git and whatever it started (hooks, here an alias's shell) are killed together.
    pidfile = tmp_path / "shell.pid"
    slow = f"!f() {{ echo $$ > {pidfile}; sleep 1000; }}; f"
    call = asyncio.ensure_future(workspace.git(repo, "-c", f"alias.slow={slow}", "slow"))
    await until(pidfile.exists)
    await until(lambda: pidfile.read_text().strip() != "")
    shell = int(pidfile.read_text())
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await until(lambda: not alive(shell))
