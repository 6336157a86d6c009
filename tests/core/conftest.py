"""Fixtures for the kernel's tests.

``dists`` installs throwaway plugin distributions the way pip would leave them: a
``<name>.dist-info`` directory with ``METADATA`` and ``entry_points.txt`` next to the plugin's
module, in a directory on ``sys.path``. ``importlib.metadata`` and stevedore then find them as
they find any installed plugin, so the tests exercise real discovery, not a mock of it.
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import stevedore
import stevedore._cache
import structlog
from structlog._config import BoundLoggerLazyProxy


class Dists:
    """Writes distributions into ``root`` (a directory on ``sys.path``)."""

    def __init__(self, root: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self._cache = cache
        self._monkeypatch = monkeypatch
        self._forget()

    def add(
        self,
        dist: str,
        source: str,
        plugins: Mapping[str, str],
        *,
        version: str = "1.0",
        module: str | None = None,
    ) -> str:
        """Install distribution ``dist`` whose module holds ``source``; ``plugins`` maps each
        entry point name in ``alveary.plugins`` to an attribute of that module. Returns the
        module's name."""
        module = module or "alveary_test_" + re.sub(r"\W", "_", dist.lower())
        (self.root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = self.root / f"{re.sub(r'[-_.]+', '_', dist)}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        lines = [f"{name} = {module}:{attr}" for name, attr in plugins.items()]
        (info / "entry_points.txt").write_text(
            "[alveary.plugins]\n" + "\n".join(lines) + "\n", encoding="utf-8"
        )
        self._forget()
        return module

    def plugin(self, name: str, source: str) -> str:
        """Shorthand: distribution ``alveary-<name>`` whose module defines ``Plugin``,
        registered as plugin ``name``."""
        return self.add(f"alveary-{name}", source, {name: "Plugin"})

    def _forget(self) -> None:
        """Make the next lookup see what is on disk now: stevedore caches entry points per
        group for the whole process and on disk per ``sys.path``."""
        importlib.invalidate_caches()
        self._monkeypatch.setattr(stevedore.ExtensionManager, "ENTRY_POINT_CACHE", {})
        cache = stevedore._cache.Cache(str(self._cache))
        self._monkeypatch.setattr(stevedore._cache, "get_group_all", cache.get_group_all)


@pytest.fixture
def dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dists]:
    """Throwaway plugin distributions, visible to discovery for this test only."""
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield Dists(root, tmp_path / "entry-point-cache", monkeypatch)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(root)):
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """``alveary._cli.main`` configures structlog for the whole process, and its loggers cache
    themselves on first use with the ``sys.stderr`` of that moment: pytest's capture, closed
    once the test ends. Undo both after each test so that later tests log to a live stream."""
    yield
    structlog.reset_defaults()
    for name, module in list(sys.modules.items()):
        if name == "alveary" or name.startswith("alveary."):
            for value in list(vars(module).values()):
                if isinstance(value, BoundLoggerLazyProxy):
                    vars(value).pop("bind", None)
