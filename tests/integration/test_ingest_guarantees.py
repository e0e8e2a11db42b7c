"""Ingest's guarantees against a real nats-server: scopes, optimistic concurrency, retries within and after the
duplicate window, limits (body, strings, control characters, clock, rate), and the ambiguous-timeout retry."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import SecretStr

from schemas.subjects import STREAM_NAME
from services.common.settings import Settings
from services.ingest import acks as acks_module
from services.ingest.acks import Acks
from services.ingest.app import create_app
from services.ingest.publisher import PUBLISH_ATTEMPTS
from tests.conftest import incident_id
from tests.factories import incident_opened, results_annulled
from tests.integration.test_ingest_api import AUTH, TOKEN, ingest, stream_messages
from tests.waiting import wait_until

READER = secrets.token_urlsafe(18)


def scoped(settings: Settings, **update: Any) -> Settings:
    tokens = f"tester:{TOKEN},reader:{READER}:events:read"
    return settings.model_copy(update={"api_tokens": SecretStr(tokens), **update})


# --- optimistic concurrency ----------------------------------------------------------------------------------------


async def test_a_write_at_the_expected_position_passes_and_a_stale_one_is_409(
    settings: Settings, stream: None, nc: Client
) -> None:
    incident = incident_id()
    async with ingest(scoped(settings)) as client:
        first = await client.post("/v1/events", json=incident_opened(incident), headers=AUTH | {"If-Match": '"0"'})
        position = first.json()["seq"]
        second = await client.post(
            "/v1/events", json=results_annulled(incident) | {"expected_position": position}, headers=AUTH
        )
        stale = await client.post(
            "/v1/events", json=results_annulled(incident), headers=AUTH | {"If-Match": str(position)}
        )

    assert (first.status_code, second.status_code) == (202, 202)
    assert stale.status_code == 409
    assert stale.json()["current_position"] == second.json()["seq"]
    assert stale.json()["expected_position"] == position
    assert await stream_messages(nc) == 2


async def test_two_concurrent_writers_with_the_same_expected_position_exactly_one_wins(
    settings: Settings, stream: None, nc: Client
) -> None:
    incident = incident_id()
    async with ingest(scoped(settings)) as client:
        opened = await client.post("/v1/events", json=incident_opened(incident), headers=AUTH)
        position = opened.json()["seq"]
        for _ in range(5):  # several rounds, each a real race between two writers
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/v1/events", json=results_annulled(incident), headers=AUTH | {"If-Match": str(position)}
                    )
                    for _ in range(2)
                )
            )
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [202, 409], [a.json() for a in answers]
            winner = next(a for a in answers if a.status_code == 202)
            loser = next(a for a in answers if a.status_code == 409)
            assert loser.json()["current_position"] == winner.json()["seq"]
            position = winner.json()["seq"]

    assert await stream_messages(nc) == 1 + 5


async def test_a_write_without_an_expectation_is_not_checked(settings: Settings, stream: None) -> None:
    incident = incident_id()
    async with ingest(scoped(settings)) as client:
        await client.post("/v1/events", json=incident_opened(incident), headers=AUTH)
        unchecked = await client.post("/v1/events", json=results_annulled(incident), headers=AUTH)
    assert unchecked.status_code == 202


async def test_a_retried_conditional_write_is_a_duplicate_not_a_conflict(
    settings: Settings, stream: None, nc: Client
) -> None:
    """The response to a conditional write was lost; the client retries with the same key and position."""
    incident = incident_id()
    headers = AUTH | {"If-Match": "0", "Idempotency-Key": f"open-{incident}"}
    async with ingest(scoped(settings)) as client:
        first = await client.post("/v1/events", json=incident_opened(incident), headers=headers)
        retry = await client.post("/v1/events", json=incident_opened(incident), headers=headers)

    assert retry.status_code == 202
    assert retry.json() | {"duplicate": False} == first.json()
    assert retry.json()["duplicate"] is True
    assert await stream_messages(nc) == 1


async def test_a_conditional_batch_chains_on_its_first_event_and_spans_one_incident(
    settings: Settings, stream: None, nc: Client
) -> None:
    incident = incident_id()
    async with ingest(scoped(settings)) as client:
        batch = await client.post(
            "/v1/events/batch",
            json={"events": [incident_opened(incident), results_annulled(incident)], "expected_position": 0},
            headers=AUTH,
        )
        stale = await client.post(
            "/v1/events/batch", json={"events": [results_annulled(incident)], "expected_position": 0}, headers=AUTH
        )
        spanning = await client.post(
            "/v1/events/batch",
            json={"events": [incident_opened(incident), incident_opened(incident_id())]},
            headers=AUTH | {"If-Match": "0"},
        )

    assert batch.status_code == 202
    first, second = (r["seq"] for r in batch.json()["results"])
    assert second == first + 1
    assert stale.status_code == 409 and stale.json()["current_position"] == second
    assert spanning.status_code == 422 and spanning.json()["details"][0]["type"] == "several_incidents"
    assert await stream_messages(nc) == 2


# --- idempotency after the duplicate window ------------------------------------------------------------------------


async def test_a_retry_after_the_duplicate_window_is_stored_again(settings: Settings, nc: Client, stream: None) -> None:
    """Within the window a retry is a duplicate; after it, the stream holds the event twice (the projector dedupes)."""
    js = nc.jetstream()
    config = (await js.stream_info(STREAM_NAME)).config
    config.duplicate_window = 0.5
    await js.update_stream(config)
    try:
        incident = incident_id()
        headers = AUTH | {"Idempotency-Key": f"late-{incident}"}
        async with ingest(scoped(settings, stream_duplicate_window_s=0.5)) as client:
            first = await client.post("/v1/events", json=incident_opened(incident), headers=headers)
            within = await client.post("/v1/events", json=incident_opened(incident), headers=headers)
            assert within.json() == first.json() | {"duplicate": True}

            async def retry() -> httpx.Response:
                return await client.post("/v1/events", json=incident_opened(incident), headers=headers)

            after = await wait_until(retry, lambda r: not r.json()["duplicate"], within=60, what="the window to pass")
        assert after.json()["seq"] > first.json()["seq"]
        assert after.json()["event_id"] == first.json()["event_id"]
        assert await stream_messages(nc) == 2
    finally:
        config.duplicate_window = settings.stream_duplicate_window_s
        await js.update_stream(config)


# --- limits ---------------------------------------------------------------------------------------------------------


# --- an ambiguous publish timeout -----------------------------------------------------------------------------------


# Long enough for a stored message's ack on a busy machine; each lost ack is waited for this long.
ACK_TIMEOUT_S = 2.0


@asynccontextmanager
async def ingest_losing_acks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, lost: int
) -> AsyncIterator[httpx.AsyncClient]:
    """Ingest whose next `lost` publishes reach the stream but lose their acks (as when NATS answers too late)."""
    app = create_app(scoped(settings, publish_timeout_s=ACK_TIMEOUT_S))
    answer = Acks._answer
    remaining = [lost]

    async def losing_the_answer(self: Acks, msg: Msg) -> None:
        if remaining[0] > 0:  # the message is stored, but its ack never arrives
            remaining[0] -= 1
            return
        await answer(self, msg)

    monkeypatch.setattr(Acks, "_answer", losing_the_answer)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://ingest") as client,
    ):
        yield client


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
async def test_a_lost_ack_is_retried_with_the_same_id_and_stored_once(
    settings: Settings, stream: None, nc: Client, monkeypatch: pytest.MonkeyPatch, conditional: bool
) -> None:
    headers = AUTH | ({"If-Match": "0"} if conditional else {})
    async with ingest_losing_acks(settings, monkeypatch, lost=1) as client:
        response = await client.post("/v1/events", json=incident_opened(incident_id()), headers=headers)

    assert response.status_code == 202
    stored = await nc.jetstream().get_msg(STREAM_NAME, response.json()["seq"])
    assert (stored.headers or {})["Nats-Msg-Id"] == response.json()["event_id"]
    assert await stream_messages(nc) == 1


async def test_acks_lost_on_every_attempt_are_503_never_success(
    settings: Settings, stream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ingest_losing_acks(settings, monkeypatch, lost=PUBLISH_ATTEMPTS) as client:
        response = await client.post("/v1/events", json=incident_opened(incident_id()), headers=AUTH)

    assert response.status_code == 503
    assert response.headers["Retry-After"]


@pytest.mark.parametrize("events", [1, 3], ids=["one event", "an atomic batch"])
async def test_a_request_whose_acks_never_come_waits_out_as_many_acks_as_it_has_attempts(
    settings: Settings, stream: None, monkeypatch: pytest.MonkeyPatch, events: int
) -> None:
    """A batch goes first as one atomic batch: when its answer does not come, that was its events' first attempt,
    so a batch request waits no longer for its 503 than a single event does."""
    waits_run_out = 0
    time_out = acks_module._time_out

    def counted(futures: list[Any]) -> None:
        nonlocal waits_run_out
        waits_run_out += 1
        time_out(futures)

    monkeypatch.setattr(acks_module, "_time_out", counted)
    batch = {"events": [incident_opened(incident_id(), f"{i}") for i in range(events)]}
    async with ingest_losing_acks(settings, monkeypatch, lost=1_000) as client:
        response = await client.post("/v1/events/batch", json=batch, headers=AUTH)

    assert response.status_code == 503
    assert waits_run_out == PUBLISH_ATTEMPTS
