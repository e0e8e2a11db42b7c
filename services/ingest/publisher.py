"""Publishing stored events to the JetStream log, all at once, results in order; nothing here knows about HTTP.

An event may carry an expected incident position: it is published with `Nats-Expected-Last-Subject-Sequence`
over all the incident's subjects, so JetStream refuses it (and stores nothing) when the incident has moved on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import nats.errors
import nats.js.errors
from faststream.nats import NatsBroker

from schemas.envelope import Event
from schemas.headers import (
    CONTENT_TYPE,
    CORRELATION,
    EXPECTED_LAST_SEQUENCE,
    EXPECTED_LAST_SEQUENCE_SUBJECT,
    MESSAGE_ID,
)
from services.common.eventstream import DEFAULT_STREAM, EventStream
from services.ingest.eventlog import Published
from services.ingest.metrics import EVENTS_ACCEPTED, EVENTS_DUPLICATE, PUBLISH_FAILURES
from services.ingest.ownership import ownership_headers
from services.ingest.unavailable import NATS_UNAVAILABLE, unavailable

# JetStream's error code for "wrong last sequence": the expected position did not hold.
WRONG_LAST_SEQUENCE = 10071

# An ack that times out is ambiguous (the event may be stored): it is sent again, with the same message id, so
# the retry is either stored once or recognised as the same event. Then the client is told 503, never success.
PUBLISH_ATTEMPTS = 2


class PositionMoved(Exception):
    """JetStream refused the event: the incident's last sequence is no longer `expected`. Nothing was stored."""

    def __init__(self, event: Event[Any], expected: int) -> None:
        super().__init__(f"incident {event.incident_id!r} is no longer at position {expected}")
        self.event = event
        self.expected = expected


def message_headers(
    event: Event[Any], expected_position: int | None = None, stream: EventStream = DEFAULT_STREAM
) -> dict[str, str]:
    """Every header is declared in the AsyncAPI document (schemas/headers.py)."""
    headers = {
        # JetStream drops a second message with the same id inside the stream's duplicate window.
        MESSAGE_ID: str(event.event_id),
        # Lower case on purpose: faststream sets an empty `content-type` for bytes; this replaces it.
        CONTENT_TYPE: "application/json",
    } | ownership_headers(event)
    if event.correlation_id:
        headers[CORRELATION] = event.correlation_id
    if expected_position is not None:
        # The last sequence over every subject of the incident (a wildcard: needs nats-server >= 2.11).
        headers[EXPECTED_LAST_SEQUENCE] = str(expected_position)
        headers[EXPECTED_LAST_SEQUENCE_SUBJECT] = stream.incident_subjects(event.incident_id)
    return headers


async def publish_event(
    broker: NatsBroker,
    stream: EventStream,
    event: Event[Any],
    ack_timeout_s: float,
    expected_position: int | None = None,
) -> Published:
    subject = stream.subject(event.incident_id, event.type)
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            ack = await broker.publish(
                event.model_dump_json().encode(),
                subject,
                headers=message_headers(event, expected_position, stream),
                stream=stream.name,
                timeout=ack_timeout_s,
            )
        except nats.errors.TimeoutError:
            if attempt == PUBLISH_ATTEMPTS:
                raise
            continue
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE and expected_position is not None:
                raise PositionMoved(event, expected_position) from exc
            raise
        return Published(event_id=event.event_id, seq=ack.seq, duplicate=bool(ack.duplicate), subject=subject)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def publish_events(
    broker: NatsBroker,
    stream: EventStream,
    events: Sequence[Event[Any]],
    ack_timeout_s: float,
    expected_position: int | None = None,
) -> list[Published]:
    """Publish every event concurrently (one round trip for the lot, not one per event); results in `events` order.

    The stream stores them in `events` order too: the tasks start in order and each one queues its message on
    the connection before it first waits, so the messages leave on the socket in order (a test holds us to it).

    With `expected_position`, the first event is published alone with that expectation (PositionMoved when it
    does not hold, and nothing is published); the rest follow it unchecked, once it is stored.

    Raises Unavailable when NATS fails any of them. Some may then be stored already: a retry with the same event
    ids (or Idempotency-Key) is deduplicated, so the caller's retry completes the batch without doubles.
    """
    rest = events
    outcomes: list[Published | BaseException] = []
    if expected_position is not None:
        try:
            outcomes.append(await publish_event(broker, stream, events[0], ack_timeout_s, expected_position))
            rest = events[1:]
        except NATS_UNAVAILABLE as exc:
            outcomes.append(exc)
            rest = []  # the first may not be stored: the rest must not go without it
    outcomes += await asyncio.gather(
        *(publish_event(broker, stream, e, ack_timeout_s) for e in rest), return_exceptions=True
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        for failure in failures:
            if not isinstance(failure, NATS_UNAVAILABLE):
                raise failure
            PUBLISH_FAILURES.labels(type(failure).__name__).inc()
        raise unavailable(failures[0], f"publishing {len(failures)} of {len(events)} events") from failures[0]
    results = [o for o in outcomes if isinstance(o, Published)]
    for event, result in zip(events, results, strict=True):
        (EVENTS_DUPLICATE if result.duplicate else EVENTS_ACCEPTED).labels(event.type).inc()
    return results
