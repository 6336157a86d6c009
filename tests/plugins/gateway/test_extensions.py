"""API routes another plugin serves through the gateway (``gateway_api``): answered, listed in
the OpenAPI document with their success status and errors, and refused at start when the
gateway could not serve them as declared."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import alveary
import httpx
import pytest
from alveary import NotFound, Orchestrator

from .conftest import config, gateway_of


class Echo:
    """Answers its body back, with the status it declares.

    This paragraph is not in the OpenAPI document."""

    def __init__(self, method: str, path: str, status: object = 201) -> None:
        self.method, self.path, self.status = method, path, status

    async def handle(
        self, credentials: Mapping[str, str], params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        if params.get("name") == "missing":
            raise NotFound("no such thing")
        if body == "wrong":
            raise ValueError("body: expected anything but 'wrong'")
        return 201, {"params": dict(params), "body": body}


class Offers:
    """A plugin named ``offers`` that serves what it is given."""

    name = "offers"

    def __init__(self, *endpoints: Echo) -> None:
        self.gateway_api = endpoints


async def test_a_route_is_answered_and_documented() -> None:
    plugin = Offers(Echo("POST", "/v1/offers/{name}"))
    async with Orchestrator.from_config(config(), [plugin]) as orch:
        http = httpx.AsyncClient(base_url=gateway_of(orch).url)
        async with http:
            answer = await http.post("/v1/offers/$(id)", json={"x": ["--rm", "'\""]})
            assert answer.status_code == 201
            assert answer.json() == {"params": {"name": "$(id)"}, "body": {"x": ["--rm", "'\""]}}
            assert (await http.post("/v1/offers/missing", json=1)).status_code == 404
            wrong = await http.post("/v1/offers/x", json="wrong")
            assert wrong.status_code == 422
            assert wrong.json()["error"]["message"] == "body: expected anything but 'wrong'"
            assert (await http.post("/v1/offers/x", content=b"{")).status_code == 400
            document = (await http.get("/openapi.json")).json()
    operation = document["paths"]["/v1/offers/{name}"]["post"]
    assert operation["tags"] == ["offers"]
    assert operation["description"] == "Answers its body back, with the status it declares."
    assert sorted(operation["responses"]) == [
        "201", "400", "401", "403", "404", "413", "422", "429", "503"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        (Echo("GET", "/v1/tasks/{name}"), "an API at '/v1/tasks/{name}', a path not its own"),
        (Echo("PATCH", "/v1/offers"), "'/v1/offers' has an unknown method 'PATCH'"),
        (Echo("GET", "/v1/offers", status=500), "'/v1/offers' has a status that is no 2xx: 500"),
        (Echo("GET", "/v1/offers", status="200"), "a status that is no 2xx: '200'"),
        (Echo("GET", "/v1/offers", status=True), "a status that is no 2xx: True"),
    ],
)
async def test_a_route_the_gateway_cannot_serve_stops_the_start(endpoint: Echo, says: str) -> None:
    with pytest.raises(alveary.StartFailed) as caught:
        async with Orchestrator.from_config(config(), [Offers(endpoint)]):
            pass
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)
