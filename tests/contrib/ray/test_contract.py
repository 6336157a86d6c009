"""The ``ray`` runtime passes the runtime contract, on a real local Ray cluster."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alveary import AgentSpec
from alveary.testing.contracts import RuntimeContract
from alveary_ray import Ray


class TestRayRuntime(RuntimeContract):
    @pytest.fixture
    def plugin(self) -> Ray:
        return Ray()

    @pytest.fixture
    def spec(self) -> Callable[[str, str], AgentSpec]:
        def spec(behaviour: str, name: str) -> AgentSpec:
            options = {"handler": f"ray_handlers:{behaviour}", "num_cpus": 0}
            return AgentSpec(name, runtime="ray", options=options)

        return spec
