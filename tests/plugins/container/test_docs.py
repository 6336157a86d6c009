"""The configuration in docs/plugins/container.md is valid as printed: it builds an
orchestrator and its pool's options pass the runtime's checks."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import alveary
from alveary_container import Config, ContainerRuntime

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PAGE = (Path(__file__).parents[3] / "docs" / "plugins" / "container.md").read_text()
TOML = re.findall(r"^```toml\n(.*?)^```", PAGE, re.S | re.M)


def test_the_config_on_the_page_is_valid() -> None:
    [text] = TOML
    data = tomllib.loads(text)
    alveary.Orchestrator.from_config(data)
    runtime = ContainerRuntime(Config(**data["plugins"]["container"]))
    for pool in data["pools"]:
        runtime.validate(alveary.AgentSpec(pool["name"], options=pool["options"]))
