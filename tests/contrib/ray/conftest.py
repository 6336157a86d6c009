"""One local Ray cluster for the whole session: starting one takes seconds."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session", autouse=True)
def cluster() -> Iterator[None]:
    """A local cluster of 2 CPUs whose workers can import ``ray_handlers``. The runtime finds
    this process connected and uses the cluster (and leaves it running)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    # the cluster's processes inherit it: its workers import ray_handlers without a runtime_env
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *filter(None, [before])])

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        namespace="alveary",
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    yield
    ray.shutdown()
    if before is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = before
