"""Ingest's batches as JetStream atomic batches, against a real nats-server: stored whole or not at all, and sent
one by one whenever JetStream will not take them as a batch."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig

from schemas.envelope import Event
from schemas.headers import BATCH_COMMIT, BATCH_ID, BATCH_SEQUENCE
from services.common.eventstream import EventStream, stream_config
from services.common.settings import Settings
from services.ingest.acks import Acks, Message
from services.ingest.nats_eventlog import NatsEventLog
from services.ingest.publisher import ATOMIC_BATCH_LIMIT, PositionMoved, message, publish_events
from tests.conftest import incident_id
from tests.factories import make_event

TIMEOUT_S = 10.0

pytestmark = pytest.mark.usefixtures("stream")


@pytest.fixture
def event_stream(settings: Settings) -> EventStream:
    return EventStream.of(settings)


def events(count: int, incident: str | None = None) -> list[Event[Any]]:
    incident = incident or incident_id()
    return [make_event(incident, minute=i) for i in range(count)]


async def stored_headers(nc: Client, stream: EventStream, seqs: list[int]) -> list[dict[str, str]]:
    return [dict((await nc.jetstream().get_msg(stream.name, seq)).headers or {}) for seq in seqs]


async def stream_messages(nc: Client, stream: EventStream) -> int:
    return (await nc.jetstream().stream_info(stream.name)).state.messages


async def test_a_batch_is_stored_whole_one_event_after_another(nc: Client, event_stream: EventStream) -> None:
    batch = events(5)
    results = await publish_events(Acks(nc), event_stream, batch, TIMEOUT_S, atomic=True)

    seqs = [r.seq for r in results]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert [r.event_id for r in results] == [e.event_id for e in batch]
    assert not any(r.duplicate for r in results)
    headers = await stored_headers(nc, event_stream, seqs)
    assert len({h[BATCH_ID] for h in headers}) == 1
    assert [h[BATCH_SEQUENCE] for h in headers] == ["1", "2", "3", "4", "5"]
    assert [h.get(BATCH_COMMIT) for h in headers] == [None, None, None, None, "1"]
    assert [h["Nats-Msg-Id"] for h in headers] == [str(e.event_id) for e in batch]


async def test_a_batch_cut_short_before_its_commit_leaves_nothing_in_the_stream(
    nc: Client, event_stream: EventStream
) -> None:
    batch = events(10)

    def dies_after_three() -> Iterator[Message]:
        for i, event in enumerate(batch):
            if i == 3:
                raise RuntimeError("ingest died here")
            yield message(event, None, event_stream)

    with pytest.raises(RuntimeError):
        await Acks(nc).publish_batch(dies_after_three(), len(batch), TIMEOUT_S)
    await nc.flush()  # the server has read the three messages

    assert await stream_messages(nc, event_stream) == 0
    # The client's retry, a new batch with the same events, is stored whole.
    results = await publish_events(Acks(nc), event_stream, batch, TIMEOUT_S, atomic=True)
    assert not any(r.duplicate for r in results)
    assert await stream_messages(nc, event_stream) == 10


async def test_a_batch_holding_a_stored_event_is_sent_one_by_one(nc: Client, event_stream: EventStream) -> None:
    batch = events(3)
    [first] = await publish_events(Acks(nc), event_stream, batch[1:2], TIMEOUT_S, atomic=True)

    results = await publish_events(Acks(nc), event_stream, batch, TIMEOUT_S, atomic=True)

    assert [r.duplicate for r in results] == [False, True, False]
    assert results[1].seq == first.seq
    assert await stream_messages(nc, event_stream) == 3
    assert all(BATCH_ID not in h for h in await stored_headers(nc, event_stream, [r.seq for r in results]))


async def test_a_batch_with_an_expected_position_is_checked_and_stored_as_one(
    nc: Client, event_stream: EventStream
) -> None:
    incident = incident_id()
    [opened] = await publish_events(Acks(nc), event_stream, events(1, incident), TIMEOUT_S)

    with pytest.raises(PositionMoved):
        await publish_events(Acks(nc), event_stream, events(3, incident), TIMEOUT_S, opened.seq - 1, atomic=True)
    assert await stream_messages(nc, event_stream) == 1

    results = await publish_events(Acks(nc), event_stream, events(3, incident), TIMEOUT_S, opened.seq, atomic=True)
    assert [r.seq for r in results] == [opened.seq + 1, opened.seq + 2, opened.seq + 3]
    headers = await stored_headers(nc, event_stream, [r.seq for r in results])
    assert headers[0]["Nats-Expected-Last-Subject-Sequence"] == str(opened.seq)
    assert len({h[BATCH_ID] for h in headers}) == 1


async def test_more_events_than_an_atomic_batch_holds_are_sent_one_by_one(
    nc: Client, event_stream: EventStream
) -> None:
    results = await publish_events(Acks(nc), event_stream, events(ATOMIC_BATCH_LIMIT + 1), TIMEOUT_S, atomic=True)

    assert len({r.seq for r in results}) == ATOMIC_BATCH_LIMIT + 1
    assert await stream_messages(nc, event_stream) == ATOMIC_BATCH_LIMIT + 1
    [last] = await stored_headers(nc, event_stream, [results[-1].seq])
    assert BATCH_ID not in last


@pytest.fixture
async def stream_without_atomic_batches(nc: Client) -> AsyncIterator[EventStream]:
    """A stream declared without `allow_atomic`, as on a server older than 2.12."""
    name = f"NO_ATOMIC_{uuid.uuid4().hex[:8]}"
    stream = EventStream(name, name.lower())
    await nc.jetstream().add_stream(StreamConfig(name=name, subjects=[stream.all_events]))
    yield stream
    await nc.jetstream().delete_stream(name)


async def test_a_stream_that_refuses_atomic_batches_gets_the_events_one_by_one(
    nc: Client, stream_without_atomic_batches: EventStream
) -> None:
    stream = stream_without_atomic_batches
    results = await publish_events(Acks(nc), stream, events(4), TIMEOUT_S, atomic=True)

    assert len({r.seq for r in results}) == 4 and not any(r.duplicate for r in results)
    assert await stream_messages(nc, stream) == 4


async def test_ingest_turns_atomic_batches_on_for_a_stream_declared_without_them(
    nc: Client, settings: Settings, event_stream: EventStream
) -> None:
    await nc.jetstream().update_stream(dataclasses.replace(stream_config(settings), allow_atomic=False))
    event_log = NatsEventLog(settings)
    await event_log.start()
    try:
        results = await event_log.publish(events(3))
    finally:
        await event_log.stop()

    assert (await nc.jetstream().stream_info(event_stream.name)).config.allow_atomic
    headers = await stored_headers(nc, event_stream, [r.seq for r in results])
    assert [h[BATCH_SEQUENCE] for h in headers] == ["1", "2", "3"]


@pytest.fixture
async def event_log(settings: Settings) -> AsyncIterator[NatsEventLog]:
    log = NatsEventLog(settings)
    await log.start()
    yield log
    await log.stop()


async def test_single_events_of_concurrent_requests_are_stored_in_atomic_batches(
    nc: Client, event_log: NatsEventLog, event_stream: EventStream
) -> None:
    singles = events(20)

    results = await asyncio.gather(*(event_log.publish([event]) for event in singles))

    assert [r.event_id for [r] in results] == [e.event_id for e in singles]
    assert not any(r.duplicate for [r] in results)
    seqs = [r.seq for [r] in results]
    assert len(set(seqs)) == 20 and await stream_messages(nc, event_stream) == 20
    headers = await stored_headers(nc, event_stream, seqs)
    assert [h["Nats-Msg-Id"] for h in headers] == [str(e.event_id) for e in singles]
    batches = [h.get(BATCH_ID) for h in headers]
    assert batches.count(None) <= 1  # the first may go alone, before the others came
    assert len(set(batches)) < 20  # the rest went together


async def test_a_retried_single_event_among_new_ones_is_a_duplicate_and_the_others_are_stored(
    nc: Client, event_log: NatsEventLog, event_stream: EventStream
) -> None:
    stored, *new = events(6)
    [first] = await event_log.publish([stored])

    results = await asyncio.gather(*(event_log.publish([event]) for event in [*new[:2], stored, *new[2:]]))

    outcomes = [(r.event_id, r.duplicate) for [r] in results]
    assert outcomes == [(e.event_id, e is stored) for e in [*new[:2], stored, *new[2:]]]
    assert results[2][0].seq == first.seq
    assert await stream_messages(nc, event_stream) == 6
