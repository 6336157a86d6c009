"""Contract suites: pytest test classes that a runtime, store or strategy subclasses to prove
it honours its protocol (``alveary.Runtime``, ``alveary.Store``, ``alveary.Strategy``).

Subclass one in a test module and give it a ``plugin`` fixture returning the plugin object
that provides the component (as ``[plugins] enabled`` would build it)::

    from alveary.testing.contracts import StoreContract

    class TestSQLiteStore(StoreContract):
        @pytest.fixture
        def plugin(self, tmp_path):
            return SQLiteStorePlugin(SQLiteStorePlugin.Config(path=str(tmp_path / "db")))

Each suite says what else it needs. The tests are plain functions that run their own event
loop, so no pytest plugin is required; a component that provides several names sets the class
attribute ``component`` to the one under test.
"""

from __future__ import annotations

from ._runtime import RuntimeContract
from ._store import StoreContract
from ._strategy import StrategyContract

__all__ = ["RuntimeContract", "StoreContract", "StrategyContract"]
