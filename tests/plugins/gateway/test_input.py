"""Bad and hostile input gets a 4xx in the error shape, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Served
from .test_api import error


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ("{not json", 400, "bad_request", None),
        ("", 400, "bad_request", None),  # was a 422 saying only "'data'"
        ('{"kind": "echo", "payload": NaN}', 400, "bad_request", None),
        ('{"kind": "echo", "timeout": 1e400}', 400, "bad_request", None),
        ("[1, 2]", 422, "invalid", "data"),
        ('{"kind": 5}', 422, "invalid", "kind"),
        ('{"payload": 1}', 422, "invalid", "kind"),
        ('{"kind": ""}', 422, "invalid", "kind"),
        ('{"kind": " "}', 422, "invalid", "kind"),
        ('{"kind": "echo\\u0000x"}', 422, "invalid", "kind"),
        ('{"kind": "a\\nb"}', 422, "invalid", "kind"),
        ('{"kind": "echo", "unknown": 1}', 422, "invalid", "unknown"),
        ('{"kind": "echo", "timeout": -1}', 422, "invalid", "timeout"),
        ('{"kind": "echo", "timeout": 0}', 422, "invalid", "timeout"),
        ('{"kind": "echo", "priority": "urgent"}', 422, "invalid", "priority"),
        ('{"kind": "echo", "max_attempts": 0}', 422, "invalid", "max_attempts"),
        ('{"kind": "echo", "requires": "echo"}', 422, "invalid", "requires"),
    ],
)
async def test_a_bad_submit_is_refused_with_its_reason(
    served: Served, body: str, status: int, code: str, field: str | None
) -> None:
    headers = {"content-type": "application/json"}
    response = await served.client.post("/v1/tasks", content=body, headers=headers)
    error(response, status, code, field)


async def test_a_body_over_the_limit_is_413(served: Served) -> None:
    response = await served.client.post("/v1/tasks", json={"kind": "echo", "payload": "x" * 5000})
    error(response, 413, "too_large")


@pytest.mark.parametrize(
    "payload",
    [
        "\"'; $(rm -rf /) `id` && echo",
        "--help",
        "-rf",
        10**40,
        -(10**40),
        1.5e300,
        {"a": [[[[[[[[[[{"b": None}]]]]]]]]]]},
        "\u0000\u202e\ud7ff",
    ],
)
async def test_hostile_payloads_travel_unchanged(served: Served, payload: object) -> None:
    response = await served.client.post(
        "/v1/tasks", json={"kind": "--kind", "payload": payload, "requires": ["echo"]}
    )
    assert response.status_code == 202, response.text
    task_id = response.json()["id"]
    done = await served.client.get(f"/v1/tasks/{task_id}/result", params={"wait": 10})
    assert done.json()["value"] == payload
    assert done.json()["kind"] == "--kind"


@pytest.mark.parametrize("depth", [101, 1500])
async def test_very_deep_nesting_is_refused_not_crashed_on(served: Served, depth: int) -> None:
    body = '{"kind": "echo", "payload": ' + "[" * depth + "]" * depth + "}"
    response = await served.client.post(
        "/v1/tasks", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text


async def test_nesting_up_to_the_limit_is_accepted(served: Served) -> None:
    payload: Any = []
    for _ in range(99):
        payload = [payload]
    response = await served.client.post("/v1/tasks", json={"kind": "echo", "payload": payload})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("wait", ["nan", "inf", "-1", "1e9", "soon"])
async def test_a_bad_wait_is_422(served: Served, wait: str) -> None:
    response = await served.client.get("/v1/tasks/x/result", params={"wait": wait})
    error(response, 422, "invalid", "wait")
