"""Hostile input to ingest, on a real nats-server: JSON that Python reads but the standard does not allow, positions
beyond what NATS and PostgreSQL hold, bodies that trickle in or are abandoned, and a shutdown while NATS is down
(the last three against a real uvicorn, which logs what a deployment would see)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from nats.aio.client import Client

from schemas.envelope import MAX_POSITION
from services.common.embedded_nats import EmbeddedNats
from services.common.settings import Settings
from services.ingest.app import create_app
from tests.conftest import incident_id
from tests.factories import incident_opened
from tests.integration.test_ingest_api import AUTH, ingest, stream_messages, with_token
from tests.stack import serve
from tests.waiting import wait_until

JSON = AUTH | {"Content-Type": "application/json"}


@pytest.fixture
async def client(settings: Settings, stream: None) -> AsyncIterator[httpx.AsyncClient]:
    async with ingest(with_token(settings)) as client:
        yield client


def disaster(magnitude: str) -> bytes:
    """A DisasterStruck whose magnitude is written as given, e.g. `Infinity`, which json.dumps would not write."""
    event = incident_opened(incident_id()) | {"type": "DisasterStruck", "data": {"hazard": "flood", "magnitude": 0}}
    return json.dumps(event).replace('"magnitude": 0', f'"magnitude": {magnitude}').encode()


@pytest.mark.parametrize(
    ("number", "msg"),
    [
        ("Infinity", "Infinity is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("NaN", "NaN is not a JSON number"),
        ("1e400", "the number 1e400 is out of range"),
    ],
)
async def test_non_standard_numbers_are_refused_not_stored_as_null(
    client: httpx.AsyncClient, nc: Client, number: str, msg: str
) -> None:
    response = await client.post("/v1/events", content=disaster(number), headers=JSON)

    assert response.status_code == 422, response.text
    assert response.json()["details"] == [{"loc": ["body"], "msg": msg, "type": "json_not_standard"}]
    assert await stream_messages(nc) == 0


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch"])
async def test_a_duplicate_key_is_refused_naming_the_key(client: httpx.AsyncClient, nc: Client, path: str) -> None:
    event = json.dumps(incident_opened(incident_id()))
    twice = event.replace('"occurred_at":', '"occurred_at": "2020-10-05T19:00:00+06:00", "occurred_at":')
    body = twice if path == "/v1/events" else f'{{"events": [{twice}]}}'

    response = await client.post(path, content=body.encode(), headers=JSON)

    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["msg"] == "duplicate key 'occurred_at' in one object"
    assert await stream_messages(nc) == 0


@pytest.mark.parametrize("position", [MAX_POSITION + 1, 10**30])
async def test_an_expected_position_beyond_a_stream_sequence_is_422(
    client: httpx.AsyncClient, nc: Client, position: int
) -> None:
    single = incident_opened(incident_id()) | {"expected_position": position}
    batch = {"events": [incident_opened(incident_id())], "expected_position": position}

    for path, body in (("/v1/events", single), ("/v1/events/batch", batch)):
        response = await client.post(path, json=body, headers=AUTH)
        assert response.status_code == 422, response.text
        [detail] = response.json()["details"]
        assert detail["loc"] == ["body", "expected_position"]
        assert str(MAX_POSITION) in detail["msg"]
    assert await stream_messages(nc) == 0


@pytest.mark.parametrize("if_match", [str(MAX_POSITION + 1), "9" * 5000, "\u00b2"])  # the last: a digit, not ASCII
async def test_an_if_match_beyond_a_stream_sequence_is_422(client: httpx.AsyncClient, if_match: str) -> None:
    headers = [(k.encode(), v.encode("latin-1")) for k, v in (AUTH | {"If-Match": if_match}).items()]
    response = await client.post("/v1/events", json=incident_opened(incident_id()), headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["loc"] == ["header", "If-Match"]


# --- bodies over a real socket ---------------------------------------------------------------------------------------


def request_head(length: int) -> bytes:
    return (
        f"POST /v1/events HTTP/1.1\r\nHost: ingest\r\nAuthorization: {AUTH['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def test_a_trickling_body_is_cut_with_408(settings: Settings, stream: None) -> None:
    body = json.dumps(incident_opened(incident_id())).encode()
    slow = with_token(settings, body_timeout_s=1.0, body_min_rate=100)
    async with serve(create_app(slow)) as server:
        reader, writer = await asyncio.open_connection(*server.url.removeprefix("http://").split(":"))
        writer.write(request_head(len(body)))

        async def trickle() -> None:  # the attacker: one byte every 2 s
            for byte in body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(2)

        trickling = asyncio.create_task(trickle())
        try:
            # The whole answer, up to the server closing the connection; the body would take minutes.
            answer = await asyncio.wait_for(reader.read(), timeout=15)
        finally:
            trickling.cancel()
            writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in head.lower()
    assert json.loads(payload)["details"][0]["type"] == "body_timeout"


async def test_a_client_that_leaves_mid_body_is_not_an_error(settings: Settings, stream: None) -> None:
    async with serve(create_app(with_token(settings))) as server:
        with structlog.testing.capture_logs() as logs:
            _, writer = await asyncio.open_connection(*server.url.removeprefix("http://").split(":"))
            writer.write(request_head(100) + b'{"type": "Inc')
            await writer.drain()
            writer.close()
            await writer.wait_closed()

            async def seen() -> list[MutableMapping[str, Any]]:
                return [e for e in logs if e["event"] == "client disconnected before its request was read"]

            await wait_until(seen, bool, what="the disconnect to be logged")
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []


async def test_shutdown_while_nats_is_down_logs_no_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # uvicorn's own records, caught at their logger: an earlier test of the session may have left the "uvicorn"
    # logger not propagating to the root, where caplog listens.
    catcher = _Records()
    uvicorn_records = catcher.records
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(catcher)
    level = uvicorn_error.level
    uvicorn_error.setLevel(logging.INFO)
    nats_server = EmbeddedNats(tmp_path / "nats", sync_always=False)
    nats_server.start()
    settings = with_token(Settings(nats_url=nats_server.url, data_dir=tmp_path))
    try:
        async with serve(create_app(settings)) as server:
            nats_server.stop()
            await wait_until(lambda: httpx_get(server.url + "/readyz"), lambda status: status == 503, what="NATS lost")
    finally:
        uvicorn_error.removeHandler(catcher)
        uvicorn_error.setLevel(level)
    assert "Application shutdown complete." in [r.getMessage() for r in uvicorn_records]
    assert [r.getMessage() for r in uvicorn_records if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def httpx_get(url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).status_code
