"""Running ``alveary loadtest`` as a user does: ``python -m alveary loadtest ...`` in its own
process, arguments passed without a shell."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMOKE = HERE / "smoke.toml"


async def start(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALVEARY_")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alveary",
        "loadtest",
        *argv,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**environ, **(env or {})},
    )


async def loadtest(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    process = await start(*argv, cwd=cwd, env=env)
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
