"""Apply a batch of stream messages to one projection in one transaction: rows, dead letters and checkpoint.

The caller acknowledges what this applied only after it returns (the COMMIT is done); a transient failure
raises, and the caller NAKs so that JetStream redelivers. Messages at or below the checkpoint were applied before
(a redelivery after a crash between COMMIT and ack) and are skipped. A message that does not follow the
checkpoint while an earlier event is still in the stream (NAKed, waiting for its redelivery) is deferred, never
applied out of order: applying it would move the checkpoint past the earlier event and skip it for good.
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
from services.common.logging import CORRELATION_HEADER
from services.projector.checkpoints import lock_checkpoint, save_checkpoint
from services.projector.dead_letters import record_dead_letter
from services.projector.messages import StreamMessage
from services.projector.processed import first_time
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


DUPLICATE = "duplicate"  # _apply_one's answer for an event id this projection already applied


@dataclass(frozen=True)
class BatchResult:
    applied: int
    skipped: int  # at or below the checkpoint, or an event id applied before
    dead_lettered: int
    deferred: int
    checkpoint: int  # every message at or below it is done: acknowledge those, NAK the rest


async def apply_batch(
    conn: AsyncConnection[Any],
    projection: Projection,
    messages: Sequence[StreamMessage],
    next_in_stream: NextInStream,
) -> BatchResult:
    applied = skipped = dead = 0
    ordered = sorted(messages, key=lambda m: m.seq)
    async with conn.transaction():
        checkpoint = await lock_checkpoint(conn, projection.name)
        for index, message in enumerate(ordered):
            if message.seq <= checkpoint:
                skipped += 1
                continue
            if await _earlier_event_pending(message.seq, checkpoint, next_in_stream):
                deferred = len(ordered) - index
                log.info(
                    "earlier events pending; deferring",
                    projection=projection.name,
                    checkpoint=checkpoint,
                    first_deferred=message.seq,
                )
                break
            error = await apply_one(conn, projection, message)
            if error is None:
                applied += 1
            elif error == DUPLICATE:
                skipped += 1
            else:
                await record_dead_letter(conn, projection.name, message, error)
                dead += 1
            checkpoint = message.seq
        else:
            deferred = 0
        await save_checkpoint(conn, projection.name, checkpoint)
    return BatchResult(applied=applied, skipped=skipped, dead_lettered=dead, deferred=deferred, checkpoint=checkpoint)


async def _earlier_event_pending(seq: int, checkpoint: int, next_in_stream: NextInStream) -> bool:
    """Is an event between the checkpoint and `seq` still in the stream? Gaps left by deleted messages are not."""
    if seq == checkpoint + 1:
        return False
    first_present = await next_in_stream(checkpoint + 1)
    return first_present is not None and first_present < seq


async def apply_one(conn: AsyncConnection[Any], projection: Projection, message: StreamMessage) -> str | None:
    """Apply one event inside a savepoint; returns why it cannot be applied, DUPLICATE, or None when it was."""
    logger = log.bind(
        projection=projection.name, seq=message.seq, correlation_id=message.headers.get(CORRELATION_HEADER)
    )
    try:
        event = parse_event(message.data)
    except (UnknownEventType, ValidationError, ValueError) as exc:
        logger.warning("event cannot be decoded", error=str(exc))
        return f"undecodable: {exc}"
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
