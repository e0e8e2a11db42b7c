"""Every parameter of every query route, given hostile values, never gets a 5xx: NUL characters, huge numbers,
extreme dates and offsets, long and odd strings, other scripts, hand-made cursors. The routes come from the
query service's own OpenAPI document, so a new route or parameter is fuzzed without touching this test.

The incident, actor and event in the paths hold real rows (the seed scenario), so each request reaches the SQL;
the service runs behind a real uvicorn (the live feed streams) on the real PostgreSQL and nats-server."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from services.common.settings import Settings
from services.query.app import create_app as create_query
from tests.conftest import incident_id
from tests.integration.test_domain_api import scenario
from tests.stack import running_stack, serve

pytestmark = pytest.mark.usefixtures("stream")

CONCURRENT_REQUESTS = 8
ANSWER_TIMEOUT_S = 30.0
NO_ANSWER = 599


def cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


HOSTILE: list[str] = [
    # NUL and other control characters
    "\x00",
    "kg\x00x",
    "\x1b[31m",
    # huge and odd numbers
    "9" * 30,
    str(2**63),
    str(2**64),
    "-1",
    "1e400",
    "NaN",
    "Infinity",
    "0x10",
    # extreme dates and offsets
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0000-01-01T00:00:00Z",
    "2020-02-30T00:00:00Z",
    "2020-10-06T05:00:00+23:59",
    "1899-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2020-10-06",
    "1602000000",
    # long and odd strings
    "x" * 5000,
    "-" * 100,
    "- " * 100,
    '"' * 100,
    "'; DROP TABLE incidents; --",
    "%",
    "\\",
    "<script>alert(1)</script>",
    " ",
    "",
    "../../etc/passwd",
    "a" * 201,
    # other scripts
    "Кыргызстан",
    "زلزال في المدينة",
    "地震",
    "🔥" * 50,
    "\u202eevil",
    "e\u0301",
    # coordinates and lists of numbers (bbox, near) at and past their limits
    "-180,-90,180,90",
    "180,90,-180,-90",
    "1e308,1e308,1e308,1e308",
    "NaN,NaN,NaN,NaN",
    "0,0,1000",
    "90,180,0.000001",
    "1,2,3,4,5",
    # hand-made cursors
    cursor(["0001-01-01T00:00:00+14:00", 1]),
    cursor(["2020-10-06T05:00:00+06:00", 10**30]),
    cursor(["x" * 5000]),
    cursor([None]),
]


Request = tuple[str, str, dict[str, Any]]  # (route, url, httpx options)


def requests_for(openapi: dict[str, Any], path_values: dict[str, str]) -> list[Request]:
    """Every hostile value of every parameter of every GET route under /v1."""
    requests: list[Request] = []
    for route, operations in openapi["paths"].items():
        if not route.startswith("/v1/") or "get" not in operations:
            continue
        for parameter in operations["get"].get("parameters", []):
            name, where = parameter["name"], parameter["in"]
            for value in HOSTILE:
                values = path_values
                options: dict[str, Any] = {}
                if where == "path":
                    values = path_values | {name: quote(value, safe="") or "%20"}
                elif where == "query":
                    options = {"params": {name: value}}
                else:
                    options = {"headers": [(name.encode(), value.encode())]}
                requests.append((route, route.format(**values), options))
    return requests


async def status_of(client: httpx.AsyncClient, url: str, options: dict[str, Any]) -> tuple[int, str]:
    try:
        async with client.stream("GET", url, **options) as response:  # the live feed never ends: status only
            body = b"" if response.status_code < 500 else await response.aread()
            return response.status_code, body.decode(errors="replace")[:300]
    except httpx.LocalProtocolError as exc:  # a value the client itself will not send (e.g. NUL in a header)
        return 0, str(exc)
    except httpx.TimeoutException:
        return NO_ANSWER, f"no answer within {ANSWER_TIMEOUT_S} s"


async def test_no_query_parameter_value_gets_a_5xx(settings: Settings) -> None:
    incident = incident_id()
    events = scenario("kg-2020-election", incident)
    async with running_stack(settings, projector=True) as stack:
        await stack.post(*events)
        actor = (await stack.get("/v1/actors"))["items"][0]["actor_id"]
    # min_position beyond the stream's end is refused at once, not waited for.
    query = create_query(settings.model_copy(update={"min_position_wait_s": 0, "live_heartbeat_s": 1}))
    async with serve(query) as server, httpx.AsyncClient(base_url=server.url, timeout=ANSWER_TIMEOUT_S) as client:
        openapi = (await client.get("/openapi.json")).json()
        path_values = {"incident_id": incident, "actor_id": actor, "event_id": events[0]["event_id"]}
        requests = requests_for(openapi, path_values)
        limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

        async def one(route: str, url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any], int, str]:
            async with limit:
                return (url, options, *await status_of(client, url, options))

        answers = await asyncio.gather(*(one(*request) for request in requests))

    assert len({route for route, _, _ in requests}) >= 18, "every route is fuzzed"
    assert [answer for answer in answers if answer[2] >= 500] == []
