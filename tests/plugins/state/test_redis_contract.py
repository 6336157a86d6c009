"""The ``redis`` store passes the store contract, on a real redis-server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alveary.testing.contracts import StoreContract
from alveary_state import Config, State

from .conftest import RedisServer


class TestRedisStore(StoreContract):
    component = "redis"

    @pytest.fixture
    def plugin(self, redis_server: RedisServer, prefix: str) -> State:
        return State(Config(url=redis_server.url, prefix=prefix, flush_interval=0.01))

    @pytest.fixture
    def reopen(self, redis_server: RedisServer, prefix: str) -> Callable[[], object]:
        return lambda: State(Config(url=redis_server.url, prefix=prefix, flush_interval=0.01))
