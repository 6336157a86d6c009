"""Per-agent working directories: a plain directory, or a git worktree on the agent's branch.

A worktree is removed when its agent stops, unless it has uncommitted changes (then it stays,
and the agent's log says so); the branch always stays, so committed work is never lost and an
agent of the same name picks its branch up again.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import structlog

from .options import ProcessOptions
from .process import run_command
from .template import render

log = structlog.get_logger("alveary.workspace")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@attrs.frozen
class Workspace:
    """Where an agent works: its directory (None: the orchestrator's), and for a worktree
    the repository and branch."""

    path: Path | None = None
    repo: Path | None = None
    branch: str | None = None


def locate(options: ProcessOptions, agent_name: str) -> Workspace:
    """Where the agent works, creating a plain workspace directory; for a worktree, the
    directory git will create, the repository and the branch."""
    if options.workspace is None:
        return Workspace(Path(options.cwd).expanduser().resolve() if options.cwd else None)
    path = Path(options.workspace).expanduser().resolve() / _UNSAFE.sub("_", agent_name)
    if options.worktree is None:
        path.mkdir(parents=True, exist_ok=True)
        return Workspace(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    repo = Path(options.worktree.repo).expanduser().resolve()
    return Workspace(path, repo, render(options.worktree.branch, {"agent": agent_name}))


async def prepare(options: ProcessOptions, agent_name: str) -> Workspace:
    """Create the agent's workspace (a directory or a git worktree); raise ``RuntimeError``
    with git's message if git refuses."""
    place = locate(options, agent_name)
    if place.repo is None or place.path is None or place.branch is None:
        return place
    repo, path, branch = place.repo, place.path, place.branch
    assert options.worktree is not None
    await git(repo, "worktree", "prune")
    exists = await git(
        repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False
    )
    if exists is not None:
        await git(repo, "worktree", "add", str(path), branch)
    else:
        await git(repo, "worktree", "add", "-b", branch, str(path), options.worktree.base)
    return place


async def release(workspace: Workspace) -> str | None:
    """Remove a worktree checkout if it is clean; return a note for the agent's log when it
    is kept (or could not be removed)."""
    if workspace.repo is None or workspace.path is None:
        return None
    try:
        await git(workspace.repo, "worktree", "remove", str(workspace.path))
    except RuntimeError as exc:
        return f"worktree {workspace.path} kept (branch {workspace.branch}): {exc}"
    return None


async def git(repo: Path, *args: str, check: bool = True) -> str | None:
    """Run ``git -C repo args``; its output, or None when it failed and ``check`` is false.
    Cancelled, it kills git's process group (hooks included) and waits for it to be gone."""
    status, out, err = await run_command(["git", "-C", str(repo), *args])
    if status != 0:
        if not check:
            return None
        message = err.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {message[-1] if message else status}")
    return out.decode(errors="replace")
