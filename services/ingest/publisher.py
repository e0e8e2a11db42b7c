"""Publishing stored events to the JetStream log, all at once, results in order; nothing here knows about HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from faststream.nats import NatsBroker
from pydantic import BaseModel

from schemas.envelope import Event
from schemas.subjects import STREAM_NAME, event_subject
from services.common.logging import CORRELATION_HEADER
from services.ingest.metrics import EVENTS_ACCEPTED, EVENTS_DUPLICATE, PUBLISH_FAILURES
from services.ingest.unavailable import NATS_UNAVAILABLE, unavailable


class Published(BaseModel):
    """Where an event landed: `seq` is its stream sequence, which a reader can wait for (read-your-writes)."""

    event_id: UUID
    seq: int
    duplicate: bool
    subject: str


def message_headers(event: Event[Any]) -> dict[str, str]:
    headers = {
        # JetStream drops a second message with the same id inside the stream's duplicate window.
        "Nats-Msg-Id": str(event.event_id),
        # Lower case on purpose: faststream sets an empty `content-type` for bytes; this replaces it.
        "content-type": "application/json",
    }
    if event.correlation_id:
        headers[CORRELATION_HEADER] = event.correlation_id
    return headers


async def publish_event(broker: NatsBroker, event: Event[Any], ack_timeout_s: float) -> Published:
    subject = event_subject(event.incident_id, event.type)
    ack = await broker.publish(
        event.model_dump_json().encode(),
        subject,
        headers=message_headers(event),
        correlation_id=event.correlation_id,
        stream=STREAM_NAME,
        timeout=ack_timeout_s,
    )
    return Published(event_id=event.event_id, seq=ack.seq, duplicate=bool(ack.duplicate), subject=subject)


async def publish_events(broker: NatsBroker, events: Sequence[Event[Any]], ack_timeout_s: float) -> list[Published]:
    """Publish every event concurrently (one round trip for the lot, not one per event); results in `events` order.

    The stream stores them in `events` order too: the tasks start in order and each one queues its message on
    the connection before it first waits, so the messages leave on the socket in order (a test holds us to it).

    Raises Unavailable when NATS fails any of them. Some may then be stored already: a retry with the same event
    ids (or Idempotency-Key) is deduplicated, so the caller's retry completes the batch without doubles.
    """
    outcomes = await asyncio.gather(*(publish_event(broker, e, ack_timeout_s) for e in events), return_exceptions=True)
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
