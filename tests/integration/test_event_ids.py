"""Event ids nobody else can take, on a real nats-server: an id stored already is a duplicate only for the same
writer sending the same event; another writer, or another body under the same id or Idempotency-Key, is 409."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from pydantic import SecretStr

from schemas.catalogue import parse_event
from schemas.subjects import STREAM_NAME
from services.common.settings import Settings
from tests.conftest import incident_id
from tests.factories import incident_opened
from tests.integration.test_ingest_api import ingest, stream_messages

ALICE, MALLORY = secrets.token_urlsafe(18), secrets.token_urlsafe(18)


def as_(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} | headers


@pytest.fixture
async def client(settings: Settings, stream: None) -> AsyncIterator[httpx.AsyncClient]:
    tokens = SecretStr(f"alice:{ALICE},mallory:{MALLORY}")
    async with ingest(settings.model_copy(update={"api_tokens": tokens})) as client:
        yield client


async def stored_by(nc: Client, seq: int) -> tuple[str | None, Any]:
    msg = await nc.jetstream().get_msg(STREAM_NAME, seq)
    event = parse_event(msg.data or b"")
    return event.recorded_by, event.data.title


async def test_an_id_another_writer_stored_first_is_409_not_a_duplicate(client: httpx.AsyncClient, nc: Client) -> None:
    event = incident_opened(incident_id(), title="Alice's report") | {"event_id": str(uuid.uuid4())}
    squatted = await client.post("/v1/events", json=event | {"data": {"title": "Mallory's"}}, headers=as_(MALLORY))

    refused = await client.post("/v1/events", json=event, headers=as_(ALICE))

    assert squatted.status_code == 202
    assert refused.status_code == 409, refused.text
    [detail] = refused.json()["details"]
    assert detail["loc"] == ["body", "event_id"] and "another writer" in detail["msg"]
    assert await stream_messages(nc) == 1
    assert await stored_by(nc, squatted.json()["seq"]) == ("mallory", "Mallory's")


async def test_the_same_key_from_two_writers_is_two_events(client: httpx.AsyncClient, nc: Client) -> None:
    """Derived ids are keyed by the writer and a server secret: another writer cannot land on Alice's id."""
    event = incident_opened(incident_id())
    mallory = await client.post("/v1/events", json=event, headers=as_(MALLORY, **{"Idempotency-Key": "report-1"}))
    alice = await client.post("/v1/events", json=event, headers=as_(ALICE, **{"Idempotency-Key": "report-1"}))

    assert (mallory.status_code, alice.status_code) == (202, 202)
    assert alice.json()["duplicate"] is False and alice.json()["event_id"] != mallory.json()["event_id"]
    assert await stored_by(nc, alice.json()["seq"]) == ("alice", event["data"]["title"])


async def test_a_reused_key_with_another_body_is_409_and_the_first_body_stays(
    client: httpx.AsyncClient, nc: Client
) -> None:
    incident = incident_id()
    headers = as_(ALICE, **{"Idempotency-Key": "report-2"})
    first = await client.post("/v1/events", json=incident_opened(incident, title="First"), headers=headers)

    changed = await client.post("/v1/events", json=incident_opened(incident, title="Second"), headers=headers)

    assert changed.status_code == 409, changed.text
    [detail] = changed.json()["details"]
    assert detail["loc"] == ["header", "Idempotency-Key"] and "different body" in detail["msg"]
    assert await stream_messages(nc) == 1
    assert await stored_by(nc, first.json()["seq"]) == ("alice", "First")


async def test_a_true_retry_is_a_duplicate_even_with_a_new_correlation_id(
    client: httpx.AsyncClient, nc: Client
) -> None:
    """Ingest stamps recorded_at per request and takes the correlation id from it: neither is the writer's body."""
    event = incident_opened(incident_id())
    first = await client.post("/v1/events", json=event, headers=as_(ALICE, **{"Idempotency-Key": "r-3"}))
    retry = await client.post(
        "/v1/events", json=event, headers=as_(ALICE, **{"Idempotency-Key": "r-3", "X-Correlation-ID": "retry-1"})
    )

    assert retry.status_code == 202
    assert retry.json() == first.json() | {"duplicate": True}
    assert await stream_messages(nc) == 1


async def test_a_retried_batch_with_one_changed_event_refuses_that_one_and_reports_the_rest(
    client: httpx.AsyncClient, nc: Client
) -> None:
    incident = incident_id()
    headers = as_(ALICE, **{"Idempotency-Key": "batch-4"})
    events = [incident_opened(incident, title=f"report {i}") for i in range(3)]
    first = await client.post("/v1/events/batch", json={"events": events}, headers=headers)
    events[1] = incident_opened(incident, title="changed")

    retry = await client.post("/v1/events/batch", json={"events": events}, headers=headers)

    assert first.status_code == 202 and retry.status_code == 409, retry.text
    [detail] = retry.json()["details"]
    assert detail["loc"] == ["header", "Idempotency-Key"] and "different body" in detail["msg"]
    assert f"event 1 of the batch, {first.json()['results'][1]['event_id']}" in detail["msg"]
    stored = [r | {"duplicate": True} for r in first.json()["results"]]
    assert retry.json()["results"] == [stored[0], stored[2]]
    assert await stream_messages(nc) == 3
