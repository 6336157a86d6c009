"""An alert of alveary-metrics acted on by a shell hook of alveary-hooks: the command gets the
event, with the rule's numbers, on its standard input; a hostile rule name stays data."""

from __future__ import annotations

import json
from pathlib import Path

from alveary import Orchestrator
from alveary.testing import until


async def test_a_shell_hook_receives_a_firing_alert(tmp_path: Path) -> None:
    out = tmp_path / "alert.json"
    name = "no-gpu; $(touch pwned) `id` --force"
    config = {
        "orchestrator": {"tick_interval": 0.05, "shutdown_timeout": 0.5},
        "plugins": {
            "enabled": ["metrics", "hooks"],
            "metrics": {
                "listen": "127.0.0.1:0",
                "alerts": {
                    name: {"metric": "ready_agents", "capability": "gpu", "op": "<", "threshold": 1}
                },
            },
            "hooks": {
                "commands": [
                    {
                        "name": "page",
                        "on": ["alert.*"],
                        "command": ["sh", "-c", 'cat > "$OUT.part" && mv "$OUT.part" "$OUT"'],
                        "env": {"OUT": str(out)},
                        "cwd": str(tmp_path),
                    }
                ]
            },
        },
    }
    async with Orchestrator.from_config(config):
        await until(out.exists, timeout=60)
    event = json.loads(out.read_text())
    assert event["type"] == "alert.firing"
    assert event["data"]["rule"] == name
    assert (event["data"]["value"], event["data"]["threshold"]) == (0, 1)
    assert event["data"]["capability"] == "gpu"
    assert not (tmp_path / "pwned").exists()
