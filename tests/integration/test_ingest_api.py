"""The ingest HTTP API against a real nats-server: what is published, where, with which headers, and every refusal."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import nats
import pytest
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from prometheus_client import REGISTRY
from pydantic import SecretStr

from schemas.asyncapi import asyncapi_document
from schemas.catalogue import parse_event
from schemas.subjects import STREAM_NAME, event_subject
from services.common.embedded_nats import EmbeddedNats
from services.common.ports import free_port
from services.common.settings import Settings
from services.ingest.app import create_app
from tests.conftest import EVENT_ID_SECRET, incident_id
from tests.factories import incident_opened, results_annulled

TOKEN = secrets.token_urlsafe(18)  # 24 characters
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_S = 15.0


def with_token(settings: Settings, **update: Any) -> Settings:
    return settings.model_copy(
        update={"api_tokens": SecretStr(f"tester:{TOKEN}"), "event_id_secret": EVENT_ID_SECRET, **update}
    )


@asynccontextmanager
async def ingest(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        LifespanManager(create_app(settings)) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://ingest") as client,
    ):
        yield client


@pytest.fixture
async def client(settings: Settings, stream: None) -> AsyncIterator[httpx.AsyncClient]:
    async with ingest(with_token(settings)) as client:
        yield client


async def stream_messages(nc: Client) -> int:
    return (await nc.jetstream().stream_info(STREAM_NAME)).state.messages


async def wait_ready(client: httpx.AsyncClient) -> None:
    """Poll /readyz until it answers 200, for at most WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while (response := await client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, f"ingest not ready after {WAIT_S} s: {response.text}"
        await asyncio.sleep(0.05)


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- publishing ---------------------------------------------------------------------------------------------------


async def test_one_event_is_stored_with_its_headers_and_recording_fields(client: httpx.AsyncClient, nc: Client) -> None:
    incident = incident_id()
    before = datetime.now(UTC)
    response = await client.post(
        "/v1/events", json=incident_opened(incident), headers=AUTH | {"X-Correlation-ID": "req-42"}
    )
    after = datetime.now(UTC)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["duplicate"] is False
    assert body["subject"] == event_subject(incident, "IncidentOpened")
    assert response.headers["X-Correlation-ID"] == "req-42"

    msg = await nc.jetstream().get_msg(STREAM_NAME, body["seq"])
    assert msg.subject == body["subject"]
    assert msg.headers is not None
    assert msg.headers["Nats-Msg-Id"] == body["event_id"]
    assert msg.headers["X-Correlation-ID"] == "req-42"
    assert msg.headers["content-type"] == "application/json"
    assert msg.data is not None
    event = parse_event(msg.data)
    assert str(event.event_id) == body["event_id"]
    assert event.recorded_by == "tester"
    assert before <= event.recorded_at <= after
    assert event.correlation_id == "req-42"
    assert event.data.title == "Protests after the parliamentary election"


async def test_every_header_on_the_wire_is_declared_in_the_asyncapi_document(
    client: httpx.AsyncClient, nc: Client
) -> None:
    incident = incident_id()
    conditional = {"events": [incident_opened(incident), results_annulled(incident)], "expected_position": 0}
    response = await client.post("/v1/events/batch", json=conditional, headers=AUTH | {"X-Correlation-ID": "req-44"})
    assert response.status_code == 202, response.text

    declared = asyncapi_document()["components"]["schemas"]["EventHeaders"]
    seen: set[str] = set()
    for result in response.json()["results"]:
        msg = await nc.jetstream().get_msg(STREAM_NAME, result["seq"])
        assert msg.headers is not None and "correlation_id" not in msg.headers  # X-Correlation-ID carries it
        jsonschema.validate(msg.headers, declared)
        seen |= set(msg.headers)
    assert seen == set(declared["properties"])  # a conditional atomic batch has every optional header too


async def test_a_correlation_id_in_the_body_wins_over_the_request_header(client: httpx.AsyncClient, nc: Client) -> None:
    raw = incident_opened(incident_id()) | {"correlation_id": "from-the-body"}
    response = await client.post("/v1/events", json=raw, headers=AUTH | {"X-Correlation-ID": "req-43"})

    assert response.status_code == 202, response.text
    msg = await nc.jetstream().get_msg(STREAM_NAME, response.json()["seq"])
    assert msg.headers is not None
    assert msg.headers["X-Correlation-ID"] == "from-the-body"
    assert msg.data is not None
    assert parse_event(msg.data).correlation_id == "from-the-body"


async def test_a_retry_with_the_same_idempotency_key_is_a_duplicate(client: httpx.AsyncClient, nc: Client) -> None:
    raw = incident_opened(incident_id())
    duplicates_before = counter("crisis_ingest_events_duplicate_total", type="IncidentOpened")

    first = await client.post("/v1/events", json=raw, headers=AUTH | {"Idempotency-Key": "retry-me"})
    second = await client.post("/v1/events", json=raw, headers=AUTH | {"Idempotency-Key": "retry-me"})

    assert first.status_code == second.status_code == 202
    assert first.json()["duplicate"] is False
    assert second.json() == first.json() | {"duplicate": True}
    assert await stream_messages(nc) == 1
    assert counter("crisis_ingest_events_duplicate_total", type="IncidentOpened") == duplicates_before + 1

    # Another key is another event.
    third = await client.post("/v1/events", json=raw, headers=AUTH | {"Idempotency-Key": "another"})
    assert third.json()["duplicate"] is False
    assert third.json()["seq"] > first.json()["seq"]


async def test_a_submitted_event_id_is_kept_and_deduplicates(client: httpx.AsyncClient, nc: Client) -> None:
    event_id = "0b6f3c1e-5a0d-4d0e-8f59-3f2a1c9e7b11"
    raw = incident_opened(incident_id()) | {"event_id": event_id}

    first = await client.post("/v1/events", json=raw, headers=AUTH)
    second = await client.post("/v1/events", json=raw, headers=AUTH | {"Idempotency-Key": "ignored"})

    assert first.json()["event_id"] == second.json()["event_id"] == event_id
    assert second.json()["seq"] == first.json()["seq"]
    assert second.json()["duplicate"] is True
    assert await stream_messages(nc) == 1


async def test_a_batch_is_published_in_order(client: httpx.AsyncClient, nc: Client) -> None:
    incident = incident_id()
    events = [incident_opened(incident, title=f"report {i}") for i in range(50)]

    response = await client.post("/v1/events/batch", json={"events": events}, headers=AUTH)

    assert response.status_code == 202, response.text
    results = response.json()["results"]
    seqs = [r["seq"] for r in results]
    assert len(seqs) == 50
    assert seqs == sorted(set(seqs))  # distinct and increasing: the stream holds them in the batch's order
    assert len({r["event_id"] for r in results}) == 50
    for i, result in enumerate(results):
        msg = await nc.jetstream().get_msg(STREAM_NAME, result["seq"])
        assert msg.data is not None
        stored = parse_event(msg.data)
        assert stored.data.title == f"report {i}"
        assert str(stored.event_id) == result["event_id"]


async def test_a_retried_batch_is_deduplicated_event_by_event(client: httpx.AsyncClient, nc: Client) -> None:
    incident = incident_id()
    body = {"events": [incident_opened(incident, title=f"report {i}") for i in range(3)] + [results_annulled(incident)]}
    headers = AUTH | {"Idempotency-Key": "batch-1"}
    kinds = [(name, kind) for name in ("accepted", "duplicate") for kind in ("IncidentOpened", "ResultsAnnulled")]
    before = {(name, kind): counter(f"crisis_ingest_events_{name}_total", type=kind) for name, kind in kinds}

    first = (await client.post("/v1/events/batch", json=body, headers=headers)).json()["results"]
    second = (await client.post("/v1/events/batch", json=body, headers=headers)).json()["results"]

    assert [r["seq"] for r in second] == [r["seq"] for r in first]
    assert [r["duplicate"] for r in second] == [True] * 4
    assert await stream_messages(nc) == 4
    counted = {
        (name, kind): counter(f"crisis_ingest_events_{name}_total", type=kind) - before[name, kind]
        for name, kind in kinds
    }
    assert counted == {
        ("accepted", "IncidentOpened"): 3,
        ("accepted", "ResultsAnnulled"): 1,
        ("duplicate", "IncidentOpened"): 3,
        ("duplicate", "ResultsAnnulled"): 1,
    }


# --- refusals ---------------------------------------------------------------------------------------------------------


# --- NATS unavailable -------------------------------------------------------------------------------------------------


async def test_nats_down_at_start_is_503_then_recovers_when_it_comes_up(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(nats_url=f"nats://127.0.0.1:{port}", data_dir=tmp_path)
    async with ingest(with_token(settings)) as client:
        ready = await client.get("/readyz")
        posted = await client.post("/v1/events", json=incident_opened(incident_id()), headers=AUTH)

        assert ready.status_code == 503
        assert ready.json()["checks"]["nats"].startswith("unavailable")
        assert posted.status_code == 503
        assert int(posted.headers["Retry-After"]) > 0
        assert "NATS" in posted.json()["error"]

        # The server comes up: ingest connects by itself and declares the stream on first use.
        with EmbeddedNats(tmp_path / "nats", port=port, sync_always=False):
            await wait_ready(client)
            published = await client.post("/v1/events", json=incident_opened(incident_id()), headers=AUTH)
            assert published.status_code == 202, published.text
            assert published.json()["seq"] == 1


async def test_a_deleted_stream_is_503_once_then_declared_again(tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path / "nats", sync_always=False) as server:
        settings = Settings(nats_url=server.url, data_dir=tmp_path)
        async with ingest(with_token(settings)) as client:
            assert (
                await client.post("/v1/events", json=incident_opened(incident_id()), headers=AUTH)
            ).status_code == 202
            admin = await nats.connect(server.url)
            try:
                await admin.jetstream().delete_stream(STREAM_NAME)
            finally:
                await admin.close()

            lost = await client.post("/v1/events", json=incident_opened(incident_id()), headers=AUTH)
            again = await client.post("/v1/events", json=incident_opened(incident_id()), headers=AUTH)

    assert lost.status_code == 503
    assert "NoStreamResponseError" in lost.json()["error"]
    assert lost.headers["Retry-After"]
    assert again.status_code == 202, again.text
    assert again.json()["seq"] == 1  # a new, empty stream
