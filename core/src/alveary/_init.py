"""``alveary init``: write a commented starter ``alveary.toml`` that ``alveary check`` accepts
and ``alveary run`` runs, enabling only the plugins that are installed."""

from __future__ import annotations

import sys
from pathlib import Path

from ._catalog import installed

_HEAD = """\
# alveary.toml, written by `alveary init`. Check it with `alveary check`, run it with
# `alveary run`; docs/configuration.md in the alveary repository describes every key.

[orchestrator]
{store}
shutdown_timeout = 30.0    # seconds stopping waits for the tasks in flight

[plugins]
# Plugins to load besides the built-ins (local, memory, least-loaded), in call order.
enabled = {enabled}
{missing}"""

_STATE = """
[plugins.state]
path = "alveary.db"        # the SQLite file, relative to the directory `alveary run` starts in
"""

_GATEWAY = """
[plugins.gateway]
listen = "127.0.0.1:8787"  # the HTTP API: `alveary submit`, `alveary status`, ... talk to it
"""

_LOCAL = """
# Python functions in this process. Replace the handler with your own "module:function"
# (importable from this file's directory): an async or plain function taking the task.
# Try it: alveary submit echo --payload '{"hello": 1}' --requires echo --wait
[[pools]]
name = "local"
runtime = "local"
size = { min = 1, max = 4 }
capabilities = ["echo"]
capacity = 4
options = { handler = "alveary.testing:echo" }
"""

_NO_TOOLS = """
# CLI tools as agents: `alveary agents detect` prints a [[pools]] table for each tool it knows
# that is on PATH (none was found when this file was written), for example:
#
# [[pools]]
# name = "claude"
# runtime = "subprocess"
# size = { min = 1, max = 2 }
# capabilities = ["code", "review", "tool:claude"]
# options = { template = ["claude", "--print", "--", "{prompt}"], timeout = 900.0 }
"""

_INSTALL = {
    "state": 'alveary-state, for durable task records (store = "sqlite")',
    "gateway": "alveary-gateway, for the HTTP API and `alveary submit`, `alveary status`",
    "subprocess": "alveary-subprocess, for CLI tools as agents (`alveary agents detect`)",
}


def init(path: str | None, *, force: bool) -> int:
    """Write the starter config at ``path`` (a file, or a directory to put ``alveary.toml``
    in; default ``./alveary.toml``); status 2, one line, if it exists and not ``force``."""
    target = Path(path or "alveary.toml")
    if target.is_dir():
        target /= "alveary.toml"
    if target.exists() and not force:
        print(f"alveary init: {target} exists; --force overwrites it", file=sys.stderr)
        return 2
    text, summary = starter()
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"alveary init: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {target} ({summary}); next: alveary check, then alveary run")
    return 0


def starter() -> tuple[str, str]:
    """The config's text for the plugins installed here and the tools on ``PATH``, and a
    summary of what it enables."""
    have = installed()
    plugins = [name for name in ("state", "gateway", "subprocess") if name in have]
    tools = _detected() if "subprocess" in have else ""
    if not tools and "subprocess" in plugins:
        plugins.remove("subprocess")  # no pool uses it: nothing to load
    missing = "".join(
        f"# not installed: pip install {_INSTALL[name]}\n"
        for name in ("state", "gateway", "subprocess")
        if name not in have
    )
    store = (
        'store = "sqlite"           # task records survive a restart (the state plugin)'
        if "state" in plugins
        else 'store = "memory"           # task records live in this process only'
    )
    enabled = "[" + ", ".join(f'"{name}"' for name in plugins) + "]"
    text = _HEAD.format(store=store, enabled=enabled, missing=missing)
    text += (_STATE if "state" in plugins else "") + (_GATEWAY if "gateway" in plugins else "")
    text += _LOCAL + (
        f"\n# CLI tools found on PATH by `alveary agents detect`\n{tools}" if tools else _NO_TOOLS
    )
    pools = 1 + tools.count("[[pools]]")
    return (
        text,
        f"plugins: {', '.join(plugins) or 'built-ins only'}; {pools} pool{'s' * (pools > 1)}",
    )


def _detected() -> str:
    """``[[pools]]`` tables for the known CLI tools on ``PATH``, as ``alveary agents detect``
    prints them (alveary-subprocess is installed when this is called)."""
    from alveary_subprocess.profiles import BUILTIN_TOOLS, detect, pool_toml

    found = [d for d in detect(BUILTIN_TOOLS) if d.found]
    return pool_toml(found)
