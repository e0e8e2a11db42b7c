"""Apply a batch of stream messages to one projection in one transaction: rows, dead letters and checkpoint.

The caller acknowledges what this applied only after it returns (the COMMIT is done); a transient failure
raises, and the caller NAKs so that JetStream redelivers. Messages at or below the checkpoint were applied before
(a redelivery after a crash between COMMIT and ack) and are skipped. A message that does not follow the
checkpoint while an earlier event is still in the stream (NAKed, waiting for its redelivery) is deferred, never
applied out of order: applying it would move the checkpoint past the earlier event and skip it for good.

A batch is first applied pipelined, without a round trip per statement; when one of its events cannot be
applied, the transaction is rolled back and the batch redone event by event, each in a savepoint, so that only
that event goes to the dead letters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg import AsyncConnection
from pydantic import ValidationError

from schemas.catalogue import UnknownEventType, parse_event
from schemas.envelope import Event
from services.common.logging import CORRELATION_HEADER
from services.projector.checkpoints import lock_checkpoint, save_checkpoint
from services.projector.dead_letters import record_dead_letter
from services.projector.messages import StreamMessage
from services.projector.processed import first_time, first_times
from services.projector.projection import Position, Projection

log = structlog.get_logger(__name__)

# Errors that say nothing about the event: the database is down, busy or shutting down. Retry, never skip.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.TransactionRollback,
    psycopg.errors.QueryCanceled,
    psycopg.errors.LockNotAvailable,
)


# The first stream sequence at or after the given one that the stream still holds, or None past its end.
NextInStream = Callable[[int], Awaitable[int | None]]


DUPLICATE = "duplicate"  # apply_one's answer for an event id this projection already applied


@dataclass(frozen=True)
class BatchResult:
    applied: int
    skipped: int  # at or below the checkpoint, or an event id applied before
    dead_lettered: int
    deferred: int
    checkpoint: int  # every message at or below it is done: acknowledge those, NAK the rest


@dataclass(frozen=True)
class _Outcome:
    applied: int
    duplicates: int
    dead_lettered: int


class _UnapplicableEvent(Exception):
    """An event of a pipelined batch failed: redo the batch event by event to find and dead-letter it."""


Strategy = Callable[[AsyncConnection[Any], Projection, Sequence[StreamMessage]], Awaitable[_Outcome]]


async def apply_batch(
    conn: AsyncConnection[Any],
    projection: Projection,
    messages: Sequence[StreamMessage],
    next_in_stream: NextInStream,
) -> BatchResult:
    try:
        async with conn.transaction():
            return await _apply(conn, projection, messages, next_in_stream, _pipelined)
    except _UnapplicableEvent as exc:
        log.info("redoing a batch event by event", projection=projection.name, error=repr(exc.__cause__))
    async with conn.transaction():
        return await _apply(conn, projection, messages, next_in_stream, _one_by_one)


async def _apply(
    conn: AsyncConnection[Any],
    projection: Projection,
    messages: Sequence[StreamMessage],
    next_in_stream: NextInStream,
    strategy: Strategy,
) -> BatchResult:
    checkpoint = await lock_checkpoint(conn, projection.name)
    todo, skipped, deferred = await _in_order(projection, messages, checkpoint, next_in_stream)
    outcome = await strategy(conn, projection, todo)
    if todo:
        checkpoint = todo[-1].seq
    await save_checkpoint(conn, projection.name, checkpoint)
    return BatchResult(
        applied=outcome.applied,
        skipped=skipped + outcome.duplicates,
        dead_lettered=outcome.dead_lettered,
        deferred=deferred,
        checkpoint=checkpoint,
    )


async def _in_order(
    projection: Projection, messages: Sequence[StreamMessage], checkpoint: int, next_in_stream: NextInStream
) -> tuple[list[StreamMessage], int, int]:
    """The messages to apply now, in stream order, and how many are skipped (done before) and deferred."""
    todo: list[StreamMessage] = []
    skipped = 0
    last = checkpoint
    ordered = sorted(messages, key=lambda m: m.seq)
    for index, message in enumerate(ordered):
        if message.seq <= last:
            skipped += 1
            continue
        if await _earlier_event_pending(message.seq, last, next_in_stream):
            log.info("earlier events pending; deferring", projection=projection.name, checkpoint=last,
                     first_deferred=message.seq)  # fmt: skip
            return todo, skipped, len(ordered) - index
        todo.append(message)
        last = message.seq
    return todo, skipped, 0


async def _earlier_event_pending(seq: int, checkpoint: int, next_in_stream: NextInStream) -> bool:
    """Is an event between the checkpoint and `seq` still in the stream? Gaps left by deleted messages are not."""
    if seq == checkpoint + 1:
        return False
    first_present = await next_in_stream(checkpoint + 1)
    return first_present is not None and first_present < seq


async def _pipelined(conn: AsyncConnection[Any], projection: Projection, todo: Sequence[StreamMessage]) -> _Outcome:
    decoded: list[tuple[StreamMessage, Event[Any]]] = []
    dead = 0
    for message in todo:
        event = decode(message)
        if isinstance(event, str):
            await record_dead_letter(conn, projection.name, message, event)
            dead += 1
        else:
            decoded.append((message, event))
    fresh = await first_times(conn, projection.name, [(event.event_id, m.seq) for m, event in decoded])
    try:
        async with conn.pipeline():
            for message, event in decoded:
                if message.seq in fresh:
                    await projection.apply(conn, event, Position(seq=message.seq, subject=message.subject))
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        raise _UnapplicableEvent from exc
    return _Outcome(applied=len(fresh), duplicates=len(decoded) - len(fresh), dead_lettered=dead)


async def _one_by_one(conn: AsyncConnection[Any], projection: Projection, todo: Sequence[StreamMessage]) -> _Outcome:
    applied = duplicates = dead = 0
    for message in todo:
        error = await apply_one(conn, projection, message)
        if error is None:
            applied += 1
        elif error == DUPLICATE:
            duplicates += 1
        else:
            await record_dead_letter(conn, projection.name, message, error)
            dead += 1
    return _Outcome(applied=applied, duplicates=duplicates, dead_lettered=dead)


def decode(message: StreamMessage) -> Event[Any] | str:
    """The event, or why it cannot be decoded (as dead letters record it)."""
    try:
        return parse_event(message.data)
    except (UnknownEventType, ValidationError, ValueError) as exc:
        log.warning("event cannot be decoded", seq=message.seq, error=str(exc),
                    correlation_id=message.headers.get(CORRELATION_HEADER))  # fmt: skip
        return f"undecodable: {exc}"


async def apply_one(conn: AsyncConnection[Any], projection: Projection, message: StreamMessage) -> str | None:
    """Apply one event inside a savepoint; returns why it cannot be applied, DUPLICATE, or None when it was."""
    logger = log.bind(
        projection=projection.name, seq=message.seq, correlation_id=message.headers.get(CORRELATION_HEADER)
    )
    event = decode(message)
    if isinstance(event, str):
        return event
    try:
        async with conn.transaction():  # a savepoint: a failed event leaves the batch's other rows intact
            if not await first_time(conn, projection.name, event.event_id, message.seq):
                logger.info("event id applied before; skipped", event_id=str(event.event_id))
                return DUPLICATE
            await projection.apply(conn, event, Position(seq=message.seq, subject=message.subject))
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # the event itself cannot be applied: record it and move on
        logger.warning("event cannot be applied", error=repr(exc), event_type=event.type)
        return f"unapplicable: {exc!r}"
    logger.debug("event applied", event_type=event.type, event_id=str(event.event_id))
    return None
