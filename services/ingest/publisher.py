"""Publishing stored events to the JetStream log, all at once, results in order; nothing here knows about HTTP.

Every event of a request is sent before any ack is awaited, then the acks are awaited together (acks.py). Where
the stream allows it, the events of a request are sent as one atomic batch: stored all, one after another, or none,
and answered once. A batch JetStream refuses as a batch (an event id it holds already, too many batches at once,
a lost answer) is sent again message by message, which tells each event's own outcome: stored, a duplicate, or why
not. Nothing of a refused batch is stored, and a batch that was stored after all is recognised by its message ids.

An event may carry an expected incident position: it is published with `Nats-Expected-Last-Subject-Sequence`
over all the incident's subjects, so JetStream refuses it (and stores nothing) when the incident has moved on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from nats.js.api import PubAck

from schemas.envelope import Event
from schemas.headers import (
    CONTENT_TYPE,
    CORRELATION,
    EXPECTED_LAST_SEQUENCE,
    EXPECTED_LAST_SEQUENCE_SUBJECT,
    EXPECTED_STREAM,
    MESSAGE_ID,
)
from services.common.eventstream import DEFAULT_STREAM, EventStream
from services.common.shared_metrics import counter_child
from services.ingest.acks import Acks, Message
from services.ingest.eventlog import Published
from services.ingest.metrics import EVENTS_ACCEPTED, EVENTS_DUPLICATE, PUBLISH_FAILURES
from services.ingest.ownership import ownership_headers, stamped, writer_body
from services.ingest.unavailable import NATS_UNAVAILABLE, unavailable

log = structlog.get_logger(__name__)

# JetStream's error code for "wrong last sequence": the expected position did not hold.
WRONG_LAST_SEQUENCE = 10071
# The most messages JetStream takes in one atomic batch (nats-server's limit since 2.12).
ATOMIC_BATCH_LIMIT = 1000

# An ack that times out is ambiguous (the event may be stored): it is sent again, with the same message id, so
# the retry is either stored once or recognised as the same event. Then the client is told 503, never success.
# An atomic batch whose answer times out counts as its events' first attempt.
PUBLISH_ATTEMPTS = 2


class PositionMoved(Exception):
    """JetStream refused the event: the incident's last sequence is no longer `expected`. Nothing was stored."""

    def __init__(self, event: Event[Any], expected: int) -> None:
        super().__init__(f"incident {event.incident_id!r} is no longer at position {expected}")
        self.event = event
        self.expected = expected


def message_headers(
    event: Event[Any], body: bytes, expected_position: int | None = None, stream: EventStream = DEFAULT_STREAM
) -> dict[str, str]:
    """Every header is declared in the AsyncAPI document (schemas/headers.py); `body` is the event's `writer_body`."""
    headers = {
        # JetStream drops a second message with the same id inside the stream's duplicate window.
        MESSAGE_ID: str(event.event_id),
        CONTENT_TYPE: "application/json",
        # JetStream refuses the message if the subject is another stream's.
        EXPECTED_STREAM: stream.name,
    } | ownership_headers(event, body)
    if event.correlation_id:
        headers[CORRELATION] = event.correlation_id
    if expected_position is not None:
        # The last sequence over every subject of the incident (a wildcard: needs nats-server >= 2.11).
        headers[EXPECTED_LAST_SEQUENCE] = str(expected_position)
        headers[EXPECTED_LAST_SEQUENCE_SUBJECT] = stream.incident_subjects(event.incident_id)
    return headers


def message(event: Event[Any], expected_position: int | None, stream: EventStream) -> Message:
    body = writer_body(event)
    return Message(
        stream.subject(event.incident_id, event.type),
        stamped(event, body),
        message_headers(event, body, expected_position, stream),
    )


async def publish_events(
    acks: Acks,
    stream: EventStream,
    events: Sequence[Event[Any]],
    ack_timeout_s: float,
    expected_position: int | None = None,
    atomic: bool = False,
) -> list[Published]:
    """Publish every event at once; results in `events` order. The stream stores them in that order too, except
    after a failure: an event JetStream did not store, sent again (here or by the caller's retry), lands after the
    later ones that were stored.

    `atomic`: the stream takes atomic batches; two events or more (up to JetStream's limit) are sent as one.

    With `expected_position`, the first event is published with that expectation (PositionMoved when it does not
    hold, and nothing is published): in the batch, or else alone, the rest following it unchecked once it is stored.

    Raises Unavailable when NATS fails any of them. Some may then be stored already: a retry with the same event
    ids (or Idempotency-Key) is deduplicated, so the caller's retry completes the batch without doubles.
    """
    to = _Destination(acks, stream, ack_timeout_s)
    stored: list[PubAck] = []
    if atomic and 1 < len(events) <= ATOMIC_BATCH_LIMIT:
        answer = await _publish_batch(to, events, expected_position)
        stored = _batch_acks(answer, len(events))
        if isinstance(answer, nats.errors.TimeoutError):
            # That was the events' first attempt: a request waits out no more acks than an event sent alone.
            to = replace(to, attempts=PUBLISH_ATTEMPTS - 1)
    if not stored:
        stored = await _publish_separately(to, events, expected_position)
    results = [
        Published(
            event_id=event.event_id,
            seq=ack.seq,
            duplicate=bool(ack.duplicate),
            subject=stream.subject(event.incident_id, event.type),
        )
        for event, ack in zip(events, stored, strict=True)
    ]
    _count(events, results)
    return results


@dataclass(frozen=True)
class _Destination:
    """Where a request's events go, how long each ack is waited for, and how many times an event whose ack does
    not come is sent."""

    acks: Acks
    stream: EventStream
    ack_timeout_s: float
    attempts: int = PUBLISH_ATTEMPTS


def _count(events: Sequence[Event[Any]], results: Sequence[Published]) -> None:
    """One increment per type and outcome for the request: `labels()` per event was 5% of batch ingest.
    (A dict, not `collections.Counter`: building one cost a single event about 1 us, its isinstance checks.)"""
    counts: dict[tuple[str, bool], int] = {}
    for event, result in zip(events, results, strict=True):
        key = (event.type, result.duplicate)
        counts[key] = counts.get(key, 0) + 1
    for (event_type, duplicate), count in counts.items():
        counter_child(EVENTS_DUPLICATE if duplicate else EVENTS_ACCEPTED, event_type).inc(count)


async def _publish_batch(
    to: _Destination,
    events: Sequence[Event[Any]],
    expected_position: int | None,
) -> PubAck | BaseException:
    """The one answer to the events sent as an atomic batch (the first with the expected position): its ack,
    JetStream's error or `nats.errors.TimeoutError`. Raises PositionMoved (nothing stored) or Unavailable."""
    messages = (message(event, expected_position if i == 0 else None, to.stream) for i, event in enumerate(events))
    with _sending(events):
        answer = await to.acks.publish_batch(messages, len(events), to.ack_timeout_s)
    if isinstance(answer, BaseException) and _wrong_position(answer) and expected_position is not None:
        raise PositionMoved(events[0], expected_position) from answer
    return answer


def _batch_acks(answer: PubAck | BaseException, count: int) -> list[PubAck]:
    """Each event's ack, from the answer to a batch of `count`; [] when JetStream did not store them as a batch."""
    if isinstance(answer, PubAck) and answer.batch_size == count:
        first = answer.seq - count + 1  # a batch is stored in one piece
        return [PubAck(stream=answer.stream, seq=first + i) for i in range(count)]
    log.info("an atomic batch was not stored as one; publishing its events one by one", answer=repr(answer))
    return []


@contextmanager
def _sending(events: Sequence[Event[Any]]) -> Iterator[None]:
    """Unavailable when the connection refuses a message (closed, reconnecting, its buffer full)."""
    try:
        yield
    except NATS_UNAVAILABLE as exc:
        PUBLISH_FAILURES.labels(type(exc).__name__).inc()
        raise unavailable(exc, f"publishing {len(events)} events") from exc


def _wrong_position(answer: BaseException) -> bool:
    return isinstance(answer, nats.js.errors.BadRequestError) and answer.err_code == WRONG_LAST_SEQUENCE


async def _publish_separately(
    to: _Destination,
    events: Sequence[Event[Any]],
    expected_position: int | None,
) -> list[PubAck]:
    """Each event's ack, each event sent as a message of its own: the first alone when it carries an expectation."""
    if expected_position is None:
        return await _publish_all(to, events)
    first = await _publish_all(to, events[:1], expected_position)
    return first + (await _publish_all(to, events[1:]) if len(events) > 1 else [])


async def _publish_all(
    to: _Destination, events: Sequence[Event[Any]], expected_position: int | None = None
) -> list[PubAck]:
    """Each event's ack, in order; raises PositionMoved, Unavailable, or what else JetStream answered."""
    with _sending(events):
        outcomes = await _outcomes(to, events, expected_position)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    for failure in failures:
        if _wrong_position(failure) and expected_position is not None:
            raise PositionMoved(events[0], expected_position) from failure
        if not isinstance(failure, NATS_UNAVAILABLE):
            raise failure
        PUBLISH_FAILURES.labels(type(failure).__name__).inc()
    if failures:
        raise unavailable(failures[0], f"publishing {len(failures)} of {len(events)} events") from failures[0]
    return [o for o in outcomes if isinstance(o, PubAck)]


async def _outcomes(
    to: _Destination,
    events: Sequence[Event[Any]],
    expected_position: int | None,
) -> list[PubAck | BaseException]:
    """The ack or the error of each event. One whose ack does not come within the timeout is sent again (the same
    message id: stored once), then counts as timed out.

    Each event is read from `events` and encoded as it is sent (acks.py sends them in runs), so the server stores
    the first ones while the rest are recorded (routes.py hands over a `Recorded`) and encoded; a message sent
    again is encoded again (the same bytes)."""
    outcomes: list[PubAck | BaseException] = [nats.errors.TimeoutError()] * len(events)
    waiting = list(range(len(events)))
    for _ in range(to.attempts):
        sent = (message(events[i], expected_position, to.stream) for i in waiting)
        answers = await to.acks.publish(sent, to.ack_timeout_s)
        for index, answer in zip(waiting, answers, strict=True):
            outcomes[index] = answer
        waiting = [
            i for i, answer in zip(waiting, answers, strict=True) if isinstance(answer, nats.errors.TimeoutError)
        ]
        if not waiting:
            break
    return outcomes
