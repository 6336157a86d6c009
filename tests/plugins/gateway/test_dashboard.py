"""The dashboard at ``/``: its route and headers over HTTP, then the page itself in a real
browser (Playwright driving the system Chromium) against a real orchestrator and gateway."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from alveary import AgentSpec, Orchestrator
from alveary.testing import OneToken
from playwright.async_api import Page, async_playwright, expect

from .conftest import Served, config, echo, gateway_of

WAIT = 60_000
"""Milliseconds to wait for the page to show something: generous, for a loaded machine."""
CHROMIUM = shutil.which("chromium")
CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}
XSS_KIND = "<script>window.pwned = 'kind'</script>"
XSS_PAYLOAD = "<img src=x onerror=\"window.pwned = 'payload'\">"


async def test_the_page_and_its_files_are_served_with_security_headers(served: Served) -> None:
    page = await served.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "no inline script"
    assert not re.search(r"\sstyle=|<style", page.text), "no inline style"
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text), "nothing from another site"
    for name, media in [("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")]:
        asset = await served.client.get(f"/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(media)
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert f"/{name}" in page.text
    assert "innerHTML" not in (await served.client.get("/dashboard.js")).text


async def test_the_page_is_not_an_api_operation(served: Served) -> None:
    schema = (await served.client.get("/openapi.json")).json()
    assert all(path.startswith("/v1/") for path in schema["paths"])
    assert (await served.client.get("/docs")).status_code == 200
    api = await served.client.get("/v1/health")
    assert "content-security-policy" not in api.headers


async def test_unknown_files_and_other_methods_are_refused(served: Served) -> None:
    for path in ["/index.html", "/static/dashboard.js", "/dashboard.js.map", "/_dashboard.py"]:
        assert (await served.client.get(path)).status_code == 404, path
    assert (await served.client.post("/")).status_code == 405


@contextlib.asynccontextmanager
async def browser_page(errors: list[str]) -> AsyncIterator[Page]:
    """A page of a headless system Chromium; what it logs as an error (a script error, a
    blocked resource, a Content-Security-Policy violation) goes to ``errors``."""
    if CHROMIUM is None:
        reason = "no chromium on PATH (Debian's package chromium): the browser tests need it"
        if CI:
            pytest.fail(reason)
        pytest.skip(reason)
    args = [
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses its sandbox to root
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=args
        )
        try:
            opened = await browser.new_page()
            opened.on("pageerror", lambda exc: errors.append(str(exc)))
            opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            yield opened
        finally:
            await browser.close()


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A browser page; fails the test if the page logs an error other than the browser's
    line for a 401 that the page asks a token for."""
    errors: list[str] = []
    async with browser_page(errors) as opened:
        yield opened
        assert [e for e in errors if "status of 401" not in e] == []
        assert await opened.evaluate("window.pwned") is None


async def submit(served: Served, **body: Any) -> str:
    answer = await served.client.post("/v1/tasks", json=body)
    assert answer.status_code == 202, answer.text
    task_id: str = answer.json()["id"]
    return task_id


async def finish(served: Served, task_id: str) -> dict[str, Any]:
    done = await served.client.get(f"/v1/tasks/{task_id}/result", params={"wait": 30})
    assert done.status_code == 200, done.text
    record: dict[str, Any] = done.json()
    return record


def rows(page: Page, table: str) -> Any:
    return page.locator(f"#{table} tbody tr")


async def test_the_page_shows_the_fleet_tasks_finishing_and_live_events(
    served: Served, page: Page
) -> None:
    await page.goto(gateway_of(served.orch).url)
    agents = rows(page, "agents")
    for name in ["echoer", "hanger", "breaker"]:
        await expect(agents.filter(has_text=name)).to_have_count(1, timeout=WAIT)
    await expect(agents.filter(has_text="workers")).to_have_count(1, timeout=WAIT)
    await expect(rows(page, "pools").filter(has_text="workers")).to_contain_text("1\N{EN DASH}3")
    await expect(page.locator("#status")).to_have_text("Live.", timeout=WAIT)

    echoes = [await submit(served, kind="echo", payload=i, requires=["echo"]) for i in range(5)]
    broken = await submit(served, kind="boom", requires=["boom"], max_attempts=1)
    hostile = await submit(served, kind=XSS_KIND, payload=XSS_PAYLOAD, requires=["echo"])
    for task_id in echoes:
        assert (await finish(served, task_id))["state"] == "succeeded"
    failed = await finish(served, broken)
    await finish(served, hostile)

    tasks = rows(page, "tasks")
    for i, task_id in enumerate(echoes):
        shown = tasks.filter(has_text=task_id)
        await expect(shown).to_contain_text("succeeded", timeout=WAIT)
        await expect(shown.locator("td").nth(2)).to_have_text("echo", timeout=WAIT)
        await expect(shown.locator("td").nth(6)).to_have_text(str(i), timeout=WAIT)
    shown = tasks.filter(has_text=broken)
    await expect(shown).to_contain_text(failed["state"], timeout=WAIT)
    await expect(shown).to_contain_text("broken on purpose", timeout=WAIT)

    # What the server sends is text: the markup in a task's kind and value is shown as typed.
    shown = tasks.filter(has_text=hostile)
    await expect(shown.locator("td").nth(2)).to_have_text(XSS_KIND, timeout=WAIT)
    await expect(shown.locator("td").nth(6)).to_have_text(XSS_PAYLOAD, timeout=WAIT)
    assert await page.locator("main img, main script").count() == 0

    events = rows(page, "events")
    await expect(events.filter(has_text=hostile).first).to_be_visible(timeout=WAIT)
    before = await events.count()
    await finish(served, await submit(served, kind="echo", payload="more", requires=["echo"]))
    await page.wait_for_function(
        "n => document.querySelectorAll('#events tbody tr').length > n", arg=before, timeout=WAIT
    )
    await expect(page.locator("#latency")).to_have_text(re.compile(r"^\d+(\.\d+)? m?s, peak "))
    assert await page.locator("#throughput-chart polyline").count() == 1


async def test_the_queue_counts_waiting_tasks_by_priority(served: Served, page: Page) -> None:
    # hanger has one slot: the first task runs, the others wait in the queue.
    await submit(served, kind="hang", requires=["hang"], priority="low")
    for priority in ["high", "high", "critical"]:
        await submit(served, kind="hang", requires=["hang"], priority=priority)
    await page.goto(gateway_of(served.orch).url)
    queue = rows(page, "queue")
    await expect(queue.filter(has_text="critical")).to_have_text(
        re.compile(r"critical\s*1\s*0"), timeout=WAIT
    )
    await expect(queue.filter(has_text="high")).to_have_text(
        re.compile(r"high\s*2\s*0"), timeout=WAIT
    )
    await expect(queue.filter(has_text="low")).to_have_text(re.compile(r"low\s*0\s*0"))
    await expect(page.locator("#waiting li")).to_have_count(0)


async def test_the_queue_says_why_tasks_nothing_can_take_wait(served: Served, page: Page) -> None:
    for _ in range(2):
        await submit(served, kind="x", requires=["<b>nobody</b>"])
    await page.goto(gateway_of(served.orch).url)
    await expect(page.locator("#waiting li")).to_have_text(
        [
            "2 tasks wait: no registered agent and no pool has every capability it requires "
            "(<b>nobody</b>)"
        ],
        timeout=WAIT,
    )
    assert await page.locator("#waiting b").count() == 0  # text, never markup


async def test_1000_events_keep_the_page_to_its_last_200(served: Served, page: Page) -> None:
    """The served gateway queues 16 events per subscriber: the burst drops the page's stream,
    which resumes from the replay ring with Last-Event-ID and still ends on the newest."""
    await page.goto(gateway_of(served.orch).url)
    await expect(page.locator("#status")).to_have_text("Live.", timeout=WAIT)
    for i in range(1000):
        served.orch.emit("load.burst", data={"i": i, "note": "<b>not bold</b>"})
        if i % 100 == 0:
            await asyncio.sleep(0)
    events = rows(page, "events")
    await expect(events.first).to_contain_text('"i":999', timeout=WAIT)
    await expect(events).to_have_count(200)
    await expect(events.nth(199)).to_contain_text('"i":800')
    assert await page.locator("main b").count() == 0


async def test_no_agents_and_no_pools_say_so(page: Page) -> None:
    async with Orchestrator.from_config(config()) as orch:
        await page.goto(gateway_of(orch).url)
        await expect(rows(page, "agents")).to_have_text(["No agents."], timeout=WAIT)
        await expect(rows(page, "pools")).to_have_text(["No pools."], timeout=WAIT)
        await expect(rows(page, "tasks")).to_have_count(1)
        await expect(rows(page, "queue")).to_have_count(4, timeout=WAIT)
        await expect(page.locator("#status")).to_have_text("Live.", timeout=WAIT)
        await page.goto("about:blank")  # before the server stops: the stream ends with the page


TOKEN = "open-sesame"


async def test_with_security_the_page_asks_for_a_token_and_sends_it(page: Page) -> None:
    bearer = {"authorization": f"Bearer {TOKEN}"}
    async with Orchestrator.from_config(config(), [OneToken(TOKEN)]) as orch:
        agent = AgentSpec("echoer", {"echo"}, options={"handler": echo})
        await orch.register(agent, credentials=bearer)
        url = gateway_of(orch).url
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if "/v1/" in r.url else None)
        await page.goto(url)
        status = page.locator("#status")
        await expect(status).to_have_text("The API needs a token: enter it above.", timeout=WAIT)
        await page.wait_for_timeout(2000)
        refused = len(sent)
        await page.wait_for_timeout(2000)
        assert len(sent) == refused, "no retries with a refused token"

        await page.get_by_label("API token").fill("wrong")
        await page.get_by_role("button", name="Use").click()
        await expect(status).to_have_text("The API needs a token: enter it above.", timeout=WAIT)
        await page.get_by_label("API token").fill(TOKEN)
        await page.get_by_role("button", name="Use").click()
        await expect(status).to_have_text("Live.", timeout=WAIT)
        await expect(rows(page, "agents").filter(has_text="echoer")).to_have_count(1, timeout=WAIT)

        async with httpx.AsyncClient(base_url=url, headers=bearer, timeout=30) as client:
            body = {"kind": "echo", "payload": "through", "requires": ["echo"]}
            task = (await client.post("/v1/tasks", json=body)).json()
            await client.get(f"/v1/tasks/{task['id']}/result", params={"wait": 30})
        shown = rows(page, "tasks").filter(has_text=task["id"])
        await expect(shown.locator("td").nth(6)).to_have_text("through", timeout=WAIT)
        assert TOKEN not in page.url
        await page.reload()  # the token stays with the tab
        await expect(status).to_have_text("Live.", timeout=WAIT)
        await page.goto("about:blank")


@contextlib.asynccontextmanager
async def site() -> AsyncIterator[str]:
    """An HTTP server on another port of 127.0.0.1, answering every request with a blank
    page: a page of another origin than the gateway's. Its origin is yielded."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"<!doctype html><title>another site</title>"
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n" % len(body)
        writer.write(head + b"connection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


POST = """url => fetch(url + "/v1/tasks", {
    method: "POST", mode: "no-cors", headers: {"content-type": "text/plain"},
    body: JSON.stringify({kind: "echo", payload: "$(id)", requires: ["echo"]}),
})"""
"""What any page may send to any address without asking: its answer stays unreadable to the
page, but without the gateway's check the task would run."""
CONNECT = """url => new Promise(done => {
    const socket = new WebSocket(url.replace("http", "ws") + "/v1/agents/connect");
    socket.onopen = () => done("open");
    socket.onerror = () => done("refused");
})"""
READ = """url => fetch(url + "/v1/tasks", {
    method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify({kind: "echo", payload: 7, requires: ["echo"]}),
}).then(answer => answer.json())"""


async def test_a_page_of_another_site_cannot_act_through_the_browser() -> None:
    errors: list[str] = []
    async with site() as foreign, site() as trusted, browser_page(errors) as page:
        settings = config(trusted_origins=[trusted])
        async with Orchestrator.from_config(settings) as orch:
            await orch.register(AgentSpec("echoer", {"echo"}, options={"handler": echo}))
            url = gateway_of(orch).url
            await page.goto(foreign)
            await page.evaluate(POST, url)
            assert await page.evaluate(CONNECT, url) == "refused"
            with pytest.raises(Exception, match="Failed to fetch"):  # no CORS for it
                await page.evaluate(READ, url)
            assert orch.metrics().submitted == 0
            assert orch.agents()[0].name == "echoer"
            assert len(orch.agents()) == 1  # the page never became an agent

            await page.goto(trusted)  # a page the operator trusts acts, and reads the answer
            answer = await page.evaluate(READ, url)
            assert answer["kind"] == "echo"
            assert orch.metrics().submitted == 1
    refused = [e for e in errors if "403" in e]
    assert refused, errors  # the browser saw the gateway refuse: nothing blocked it earlier
