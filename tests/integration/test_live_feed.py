"""The live feed over a real HTTP server: new entries within a second, resume with Last-Event-ID, heartbeats,
404 for an unknown incident, and a clean close on shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from nats.aio.client import Client

from services.common.settings import Settings
from services.query.app import create_app
from tests.conftest import incident_id
from tests.stack import Server, project, running_stack, serve, statement

pytestmark = pytest.mark.usefixtures("stream")


@dataclass
class Sse:
    id: str | None = None
    event: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)


async def sse_events(response: httpx.Response) -> AsyncIterator[Sse]:
    """Each event or comment block of a text/event-stream, as it arrives."""
    current = Sse()
    async for line in response.aiter_lines():
        if not line:
            yield current
            current = Sse()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                current.id = value
            elif name == "event":
                current.event = value
            elif name == "data":
                current.data = value


@asynccontextmanager
async def serve_query(settings: Settings) -> AsyncIterator[Server]:
    async with serve(create_app(settings)) as server:
        yield server


async def next_entry(events: AsyncIterator[Sse]) -> Sse:
    async for sse in events:
        if sse.event == "entry":
            return sse
    raise AssertionError("the stream ended")


async def test_a_new_entry_arrives_within_a_second_and_a_reconnect_resumes(settings: Settings, nc: Client) -> None:
    incident = incident_id()
    database_url = settings.database_url or ""
    async with running_stack(settings) as stack, serve_query(settings) as server, httpx.AsyncClient() as http:
        first = await stack.publish(statement(incident, quote="Before the feed opened."))
        await project(database_url, nc, first["seq"])
        live = f"{server.url}/v1/incidents/{incident}/live"

        async with http.stream("GET", live, timeout=10) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response)
            second = await stack.publish(statement(incident, quote="Live."))
            await project(database_url, nc, second["seq"])
            committed = time.monotonic()
            entry = await asyncio.wait_for(next_entry(events), timeout=5)
            latency = time.monotonic() - committed
            assert entry.id == str(second["seq"])  # the entry from before the feed opened is not repeated
            assert '"quote":"Live."' in entry.data
            assert latency < 1.0, f"the entry arrived {latency:.3f}s after COMMIT"

        missed = [await stack.publish(statement(incident, quote=f"Missed {i}.")) for i in range(3)]
        for published in missed:
            await project(database_url, nc, published["seq"])
        headers = {"Last-Event-ID": entry.id or ""}
        async with http.stream("GET", live, headers=headers, timeout=10) as response:
            events = sse_events(response)
            resumed = [await asyncio.wait_for(next_entry(events), timeout=5) for _ in missed]
        assert [e.id for e in resumed] == [str(p["seq"]) for p in missed]


async def test_an_idle_feed_sends_heartbeats(settings: Settings, nc: Client) -> None:
    settings = settings.model_copy(update={"live_heartbeat_s": 0.2})
    incident = incident_id()
    async with running_stack(settings) as stack, serve_query(settings) as server, httpx.AsyncClient() as http:
        await project(settings.database_url or "", nc, (await stack.publish(statement(incident)))["seq"])
        async with http.stream("GET", f"{server.url}/v1/incidents/{incident}/live", timeout=10) as response:
            events = sse_events(response)
            heartbeats = 0
            while heartbeats < 2:
                sse = await asyncio.wait_for(anext(events), timeout=5)
                assert sse.event is None  # no entry: nothing was committed
                heartbeats += bool(sse.comments)


async def test_the_feed_closes_cleanly_on_shutdown(settings: Settings, nc: Client) -> None:
    incident = incident_id()
    async with running_stack(settings) as stack, httpx.AsyncClient() as http:
        await project(settings.database_url or "", nc, (await stack.publish(statement(incident)))["seq"])
        async with (
            serve_query(settings) as server,
            http.stream("GET", f"{server.url}/v1/incidents/{incident}/live", timeout=10) as response,
        ):
            assert response.status_code == 200
            started = time.monotonic()
            server.uvicorn.should_exit = True
            remaining = [sse async for sse in sse_events(response)]  # ends when the server closes the stream
            assert all(sse.event is None for sse in remaining)
            assert time.monotonic() - started < 10


async def test_an_unknown_incident_is_404(settings: Settings) -> None:
    async with running_stack(settings) as stack:
        response = await stack.query.get("/v1/incidents/nowhere-at-all/live")
        assert response.status_code == 404
        assert response.json() == {"error": "incident 'nowhere-at-all' not found"}


async def test_a_malformed_last_event_id_is_422(settings: Settings, nc: Client) -> None:
    incident = incident_id()
    async with running_stack(settings) as stack:
        await project(settings.database_url or "", nc, (await stack.publish(statement(incident)))["seq"])
        response = await stack.query.get(f"/v1/incidents/{incident}/live", headers={"Last-Event-ID": "yesterday"})
        assert response.status_code == 422
        assert response.json()["details"][0]["loc"] == ["header", "Last-Event-ID"]
