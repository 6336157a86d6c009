"""Tool profiles: how to run a known CLI tool once per task, and what it is good for.

Profiles are data. ``[plugins.subprocess.tools.<name>]`` adds one or replaces a built-in.
``skills`` is the confidence table (0..1 per capability, i.e. per kind of task): ``alveary
agents detect`` copies it into each pool's ``skills``, where capability-match scoring reads
it to pick the best tool for a task. The built-in levels are starting points to replace with
what you measure on your own tasks.

A built-in template never lets a value be read as an option: it comes after ``--``, or
attached to its option (``--prompt={prompt}``).
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from .options import DEFAULT_ENV_ALLOW


def _skill(instance: object, attribute: attrs.Attribute[Any], value: dict[str, float]) -> None:
    for name, level in value.items():
        if not 0 <= level <= 1:
            raise ValueError(f"skills.{name}: a level is in [0, 1], got {level!r}")


@attrs.frozen
class ToolProfile:
    """One CLI tool: its one-shot template and what it is good for."""

    template: tuple[str, ...]
    """The argument vector per task; ``{prompt}`` etc. come from the task's payload."""
    executable: str = ""
    """The program looked up on PATH (default: the template's first element)."""
    version: tuple[str, ...] = ("--version",)
    """Arguments that make it print its version."""
    capabilities: tuple[str, ...] = ()
    """Kinds of task it takes; its pool also gets ``tool:<name>``."""
    skills: dict[str, float] = attrs.field(factory=dict, validator=_skill)
    """Confidence per capability, in [0, 1]."""
    ok_exit: tuple[int, ...] = (0,)
    output: Literal["text", "json"] = "text"
    timeout: float | None = None
    """A time limit per run, in seconds (``options.timeout`` of its pool)."""
    env_allow: tuple[str, ...] = ()
    """Variables the tool needs beyond the default allow-list (its API key, ...)."""
    description: str = ""

    @property
    def program(self) -> str:
        return self.executable or self.template[0]


_CODING = ("code", "review", "refactor", "debug", "test", "docs")


def _coding(levels: tuple[float, ...]) -> dict[str, float]:
    return dict(zip(_CODING, levels, strict=True))


BUILTIN_TOOLS: dict[str, ToolProfile] = {
    "claude": ToolProfile(
        ("claude", "--print", "--", "{prompt}"),
        capabilities=_CODING,
        skills=_coding((0.9, 0.9, 0.85, 0.85, 0.8, 0.85)),
        timeout=900.0,
        env_allow=("ANTHROPIC_API_KEY",),
        description="Claude Code",
    ),
    "gemini": ToolProfile(
        ("gemini", "--prompt={prompt}"),
        capabilities=_CODING,
        skills=_coding((0.8, 0.8, 0.75, 0.75, 0.75, 0.85)),
        timeout=900.0,
        env_allow=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        description="Gemini CLI",
    ),
    "codex": ToolProfile(
        ("codex", "exec", "--", "{prompt}"),
        capabilities=_CODING,
        skills=_coding((0.85, 0.8, 0.8, 0.8, 0.8, 0.75)),
        timeout=900.0,
        env_allow=("OPENAI_API_KEY",),
        description="OpenAI Codex CLI",
    ),
    "opencode": ToolProfile(
        ("opencode", "run", "--", "{prompt}"),
        capabilities=_CODING,
        skills=_coding((0.75, 0.7, 0.7, 0.7, 0.7, 0.7)),
        timeout=900.0,
        description="OpenCode",
    ),
    "copilot": ToolProfile(
        ("copilot", "-s", "--prompt={prompt}"),
        capabilities=_CODING,
        skills=_coding((0.8, 0.75, 0.7, 0.7, 0.75, 0.7)),
        timeout=900.0,
        env_allow=("GH_TOKEN", "GITHUB_TOKEN", "COPILOT_GITHUB_TOKEN"),
        description="GitHub Copilot CLI",
    ),
    "cursor": ToolProfile(
        ("cursor-agent", "--print", "--", "{prompt}"),
        capabilities=_CODING,
        skills=_coding((0.85, 0.75, 0.8, 0.75, 0.7, 0.7)),
        timeout=900.0,
        env_allow=("CURSOR_API_KEY",),
        description="Cursor CLI",
    ),
    "aider": ToolProfile(
        ("aider", "--yes-always", "--message={prompt}"),
        capabilities=_CODING,
        skills=_coding((0.8, 0.6, 0.85, 0.7, 0.7, 0.65)),
        timeout=900.0,
        env_allow=("ANTHROPIC_API_KEY", "OPENAI_API_KEY"),
        description="Aider",
    ),
    "ruff": ToolProfile(
        ("ruff", "check", "--output-format", "json", "--", "{path}"),
        capabilities=("lint",),
        skills={"lint": 1.0},
        ok_exit=(0, 1),
        output="json",
        timeout=120.0,
        description="Ruff, the Python linter (deterministic)",
    ),
}
"""The tools ``alveary agents detect`` knows without configuration."""


@attrs.frozen
class Detected:
    """A profile and what looking for its tool found."""

    name: str
    profile: ToolProfile
    path: str | None = None
    version: str | None = None
    error: str | None = None

    @property
    def found(self) -> bool:
        return self.path is not None


def detect(
    profiles: Mapping[str, ToolProfile], *, path: str | None = None, timeout: float = 10.0
) -> list[Detected]:
    """Look every profile's program up on ``path`` (default: ``PATH``) and ask found ones
    for their version (``--version``), in parallel."""

    def probe(name: str, profile: ToolProfile) -> Detected:
        where = shutil.which(profile.program, path=path)
        if where is None:
            return Detected(name, profile)
        try:
            done = subprocess.run(
                [where, *profile.version],
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Detected(name, profile, where, error=f"{type(exc).__name__}: {exc}")
        text = (done.stdout or done.stderr).decode(errors="replace").strip()
        first = text.splitlines()[0].strip() if text else ""
        if done.returncode != 0:
            return Detected(name, profile, where, first or None, f"exit {done.returncode}")
        return Detected(name, profile, where, first or None)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda item: probe(*item), sorted(profiles.items())))


def pool_toml(found: Iterable[Detected]) -> str:
    """``[[pools]]`` tables for the found tools, ready to paste into ``alveary.toml``."""
    blocks = []
    for item in found:
        profile = item.profile
        options: dict[str, Any] = {"template": list(profile.template)}
        if profile.ok_exit != (0,):
            options["ok_exit"] = list(profile.ok_exit)
        if profile.output != "text":
            options["output"] = profile.output
        if profile.timeout is not None:
            options["timeout"] = profile.timeout
        if profile.env_allow:
            options["env_allow"] = [*DEFAULT_ENV_ALLOW, *profile.env_allow]
        lines = [
            f"# {profile.description or item.name}: {item.version or 'version unknown'}"
            f" ({item.path})",
            "[[pools]]",
            f"name = {_toml(item.name)}",
            'runtime = "subprocess"',
            "size = { min = 1, max = 2 }",
            f"capabilities = {_toml([*profile.capabilities, f'tool:{item.name}'])}",
        ]
        if profile.skills:
            lines.append(f"skills = {_toml(profile.skills)}")
        lines.append(f"options = {_toml(options)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _toml(value: Any) -> str:
    """A TOML inline value for strings, numbers, lists and tables."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def merged(extra: Mapping[str, ToolProfile]) -> dict[str, ToolProfile]:
    """The built-in profiles with ``extra`` added (replacing built-ins of the same name)."""
    return {**BUILTIN_TOOLS, **extra}


__all__ = ["BUILTIN_TOOLS", "Detected", "ToolProfile", "detect", "merged", "pool_toml"]
