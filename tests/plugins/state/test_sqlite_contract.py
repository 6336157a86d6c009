"""The ``sqlite`` store passes the store contract, on a real file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from alveary import Store
from alveary.testing.contracts import StoreContract
from alveary_state import Config, SQLiteStore, State


class TestSQLiteStore(StoreContract):
    component = "sqlite"

    @pytest.fixture
    def plugin(self, tmp_path: Path) -> State:
        return State(Config(path=str(tmp_path / "tasks.db"), flush_interval=0.01))

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], object]:
        return lambda: State(Config(path=str(tmp_path / "tasks.db"), flush_interval=0.01))

    @pytest.fixture
    def crash(self) -> Callable[[Store], Awaitable[None]]:
        async def die(store: Store) -> None:
            """Stop as SIGKILL would: no flush, the connections and the lock simply gone."""
            assert isinstance(store, SQLiteStore)
            buffer = store._buffer
            assert buffer is not None
            assert buffer._runner is not None
            buffer._runner.cancel()
            store._buffer = None
            await store._release()

        return die
