"""Take ``gateway-dashboard.png``, beside this file: the gateway's dashboard in the system
Chromium, over an orchestrator running a mixed workload.

    uv run python docs/plugins/gateway_dashboard.py

A pool of summarizers, an indexer, a one-slot renderer that falls behind (so tasks queue, by
priority) and a fetcher that sometimes fails, fed about 20 tasks a second from another HTTP
client; the page is shot after 55 seconds of it. Chromium comes from the machine (Debian's
package ``chromium``); Playwright drives it and downloads nothing.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import alveary
import httpx
from alveary import AgentSpec, Orchestrator
from playwright.async_api import async_playwright

OUT = Path(__file__).resolve().with_name("gateway-dashboard.png")
SECONDS = 55.0
RATE = 20.0  # tasks a second


async def summarize(task: alveary.Task) -> Any:
    await asyncio.sleep(random.uniform(0.05, 0.6))
    return {"words": random.randint(40, 400)}


async def index(task: alveary.Task) -> Any:
    await asyncio.sleep(random.uniform(0.01, 0.1))
    return {"indexed": task.payload}


async def render(task: alveary.Task) -> Any:
    await asyncio.sleep(random.uniform(0.5, 1.5))
    return f"{task.payload}.png"


async def fetch(task: alveary.Task) -> Any:
    await asyncio.sleep(random.uniform(0.05, 0.3))
    if random.random() < 0.15:
        raise alveary.PermanentFailure(f"{task.payload}: 503 from upstream")
    if random.random() < 0.1:
        raise ConnectionResetError("connection reset by peer")  # retried
    return {"status": 200, "bytes": random.randint(1_000, 90_000)}


WORK = [  # kind, what it needs, weight, payload
    ("summarize", "summarize", 5, lambda i: {"doc": f"report-{i}.md"}),
    ("index", "index", 4, lambda i: f"doc-{i}"),
    ("render", "render", 1, lambda i: f"chart-{i}"),
    ("fetch", "fetch", 3, lambda i: f"https://example.test/item/{i}"),
]
PRIORITIES = ["low", "medium", "medium", "high", "critical"]


async def feed(client: httpx.AsyncClient) -> None:
    i = 0
    while True:
        kind, need, _, payload = random.choices(WORK, weights=[w[2] for w in WORK])[0]
        body = {"kind": kind, "payload": payload(i), "requires": [need]}
        body["priority"] = random.choice(PRIORITIES)
        answer = await client.post("/v1/tasks", json=body)
        answer.raise_for_status()
        i += 1
        await asyncio.sleep(random.expovariate(RATE))


async def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("no chromium on PATH: install Debian's package chromium", file=sys.stderr)
        return 2
    pool = {
        "name": "summarizers",
        "size": {"min": 3, "max": 6},
        "capabilities": ["summarize"],
        "options": {"handler": f"{__name__}:summarize"},
    }
    config = {
        "pools": [pool],
        "plugins": {"enabled": ["gateway"], "gateway": {"listen": "127.0.0.1:0"}},
    }
    async with Orchestrator.from_config(config) as orch:
        for spec in [
            AgentSpec("indexer", {"index"}, capacity=4, options={"handler": index}),
            AgentSpec("renderer", {"render"}, options={"handler": render}),
            AgentSpec("fetcher", {"fetch"}, capacity=2, options={"handler": fetch}),
        ]:
            await orch.register(spec)
        url = orch.plugins["gateway"].url
        args = ["--disable-gpu", "--no-first-run", "--disable-background-networking"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        async with async_playwright() as playwright, httpx.AsyncClient(base_url=url) as client:
            browser = await playwright.chromium.launch(executable_path=chromium, args=args)
            page = await browser.new_page(viewport={"width": 1400, "height": 1250})
            await page.emulate_media(color_scheme="light")
            await page.goto(url)
            feeding = asyncio.create_task(feed(client))
            await asyncio.sleep(SECONDS)
            await page.screenshot(path=OUT)  # under load
            feeding.cancel()
            await browser.close()
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
