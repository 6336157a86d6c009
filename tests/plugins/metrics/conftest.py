"""Scraping a real ``/metrics`` over HTTP and reading it with Prometheus' own parser."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import alveary
import httpx
from alveary import Orchestrator
from alveary_metrics import Metrics
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


class Scrape:
    """One scrape: every sample by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[str, dict[Labels, float]] = defaultdict(dict)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[sample.name][frozenset(sample.labels.items())] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly these labels; KeyError if absent."""
        return self.samples[name][frozenset(labels.items())]

    def labels(self, name: str, label: str) -> set[str]:
        """Every value of ``label`` among the samples of ``name``."""
        return {dict(key)[label] for key in self.samples[name]}

    def total(self, name: str, **match: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``match``."""
        want = set(match.items())
        return sum(v for key, v in self.samples[name].items() if want <= key)


async def scrape(url: str, **headers: str) -> Scrape:
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.get(url, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(answer.text)


def metrics_of(orch: Orchestrator) -> Metrics:
    plugin = orch.plugins["metrics"]
    assert isinstance(plugin, Metrics)
    return plugin


def config(**metrics: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"shutdown_timeout": 0.5},
        "plugins": {"enabled": ["metrics"], "metrics": {"listen": "127.0.0.1:0", **metrics}},
    }


async def echo(task: alveary.Task) -> Any:
    await asyncio.sleep(0)
    return task.payload
