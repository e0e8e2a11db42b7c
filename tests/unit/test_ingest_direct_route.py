"""`POST /v1/events` answered directly (direct_route.py) says exactly what FastAPI's route for it says, whatever the
outcome.

The same requests go to two apps on in-memory logs: ingest as it runs, and ingest with its direct route taken out,
so that FastAPI's declared route answers them. Status, headers and body must match, error answers included (those
come from the app's exception handlers, looked up as Starlette's exception middleware does).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from services.common.logging import CORRELATION_HEADER
from services.common.settings import Settings
from services.ingest.app import create_app
from services.ingest.direct_route import AppWithDirectRoute
from tests.conftest import incident_id
from tests.factories import incident_opened
from tests.fake_eventlog import InMemoryEventLog
from tests.unit.test_ingest_http import AUTH, OTHER, READER, fast_settings

# Every answer names its request's correlation id: the same one for both apps.
HEADERS = AUTH | {CORRELATION_HEADER: "direct-route-test"}
KEY = HEADERS | {"Idempotency-Key": "k-1"}


def without_direct_route(app: AppWithDirectRoute) -> FastAPI:
    app.direct_route = None
    return app


@asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://ingest") as http,
    ):
        yield http


async def answers(settings: Settings, requests: list[dict[str, Any]], direct: bool) -> list[tuple[Any, ...]]:
    log = InMemoryEventLog()
    app = create_app(settings, log)
    async with client(app if direct else without_direct_route(app)) as http:
        result = []
        for request in requests:
            log.available = not request.pop("log_down", False)
            answer = await http.post("/v1/events", **request)
            result.append((answer.status_code, sorted(answer.headers.items()), answer.content))
        return result


def requests() -> list[dict[str, Any]]:
    incident = incident_id()
    event = incident_opened(incident) | {"event_id": "0b6f3c1e-5a0d-4d0e-8f59-3f2a1c9e7b11"}
    other = incident_opened(incident, title="Other") | {"event_id": "1b6f3c1e-5a0d-4d0e-8f59-3f2a1c9e7b11"}
    return [
        {"json": event, "headers": HEADERS},  # 202
        {"json": event, "headers": HEADERS},  # a duplicate
        {"json": incident_opened(incident), "headers": KEY},  # an id from the key
        {"json": incident_opened(incident, title="Other"), "headers": KEY},  # 409: the key's id is taken
        {
            "json": event,
            "headers": {"Authorization": f"Bearer {OTHER}", CORRELATION_HEADER: "c"},
        },  # 409: another writer
        {"json": event, "headers": {CORRELATION_HEADER: "c"}},  # 401
        {"json": event, "headers": {"Authorization": "Bearer not-a-configured-token", CORRELATION_HEADER: "c"}},
        {"json": event, "headers": {"Authorization": f"Bearer {READER}", CORRELATION_HEADER: "c"}},  # 403
        {"json": other, "headers": HEADERS | {"If-Match": '"9"'}},  # 409: the incident moved
        {"json": other | {"expected_position": 8}, "headers": HEADERS | {"If-Match": "9"}},  # 422: they disagree
        {"content": b'{"a": NaN}', "headers": HEADERS},  # 422: not standard JSON
        {"json": incident_opened(incident) | {"type": "Nope"}, "headers": HEADERS},  # 422: unknown type
        {"json": incident_opened(incident, title="a\x00b"), "headers": HEADERS},  # 422: hygiene
        {"content": b"{" + b" " * 300 + b"}", "headers": HEADERS},  # 413
        {"json": other, "headers": HEADERS, "log_down": True},  # 503
        {"json": other, "headers": HEADERS},  # 429: over the rate
    ]


# What `requests()` gets: its last request is the 12th the token "tester" makes, one over the rate.
STATUSES = [202, 202, 202, 409, 409, 401, 401, 403, 409, 422, 422, 422, 422, 413, 503, 429]


async def test_the_direct_route_answers_as_the_declared_route(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, max_body_bytes=300, write_rate_limit="11/minute")
    sent = requests()
    direct = await answers(settings, copy.deepcopy(sent), direct=True)
    declared = await answers(settings, sent, direct=False)
    assert [status for status, _, _ in direct] == STATUSES
    assert direct == declared


async def test_what_the_direct_route_does_not_take_reaches_fastapi(tmp_path: Path) -> None:
    """The path with a trailing slash is redirected to the route, another method is refused, as before."""
    log = InMemoryEventLog()
    async with client(create_app(fast_settings(tmp_path), log)) as http:
        slash = await http.post("/v1/events/", json=incident_opened(incident_id()), headers=HEADERS)
        wrong_method = await http.get("/v1/events", headers=HEADERS)
    assert (slash.status_code, slash.headers["Location"]) == (307, "http://ingest/v1/events")
    assert (wrong_method.status_code, wrong_method.headers["Allow"]) == (405, "POST")
