"""Clients that leave mid-answer are not errors of ours (issue 10, item 8, "Logs"): exports (CSV, GeoJSON) cut off
mid-stream, several at once, leave no error in the log, and the service answers the next export whole."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import structlog

from services.common.settings import Settings
from services.query.app import create_app
from tests.conftest import incident_id
from tests.heavy_incident import project_heavy_incident
from tests.stack import serve
from tests.waiting import wait_until

EVENTS = 3000  # an export of about 1.5 MB: far more than the socket buffers hold, so each client leaves mid-stream
CLIENTS = 4
ROUNDS = 5


async def leave_mid_stream(url: str, path: str, after_bytes: int) -> None:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: query\r\n\r\n".encode())
    await writer.drain()
    await reader.readexactly(after_bytes)
    writer.transport.abort()  # a reset, as a client that dies or loses its network


@pytest.mark.usefixtures("stream")
@pytest.mark.parametrize("export", ["export.csv", "map"])
async def test_exports_cut_off_mid_stream_log_no_error(
    settings: Settings, database_url: str, caplog: pytest.LogCaptureFixture, export: str
) -> None:
    incident = incident_id()
    await project_heavy_incident(database_url, incident, EVENTS)
    path = f"/v1/incidents/{incident}/{export}"
    caplog.set_level(logging.INFO)
    with structlog.testing.capture_logs() as logs:
        async with serve(create_app(settings)) as server, httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            before = await client.get(path)
            for _ in range(ROUNDS):
                await asyncio.gather(*(leave_mid_stream(server.url, path, 8192 * (i + 1)) for i in range(CLIENTS)))
            await wait_until(  # every request's task has ended, its disconnect handled
                lambda: asyncio.sleep(0, len(server.uvicorn.server_state.tasks)), lambda n: n == 0, what="requests"
            )
            after = await client.get(path)
    assert (before.status_code, after.status_code) == (200, 200)
    assert len(before.content) > 8192 * CLIENTS and after.content == before.content
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
