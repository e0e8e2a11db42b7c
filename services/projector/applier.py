"""Apply a batch of stream messages to a group of read models in one transaction: rows, dead letters, checkpoints.

The caller acknowledges what this applied only after it returns (the COMMIT is done); a transient failure
raises, and the caller NAKs so that JetStream redelivers the whole batch. Each event is decoded and deduplicated
once for the group, then handed to every read model that has not applied it yet (see ordering.py for which
messages are applied now, and checkpoints.py for read models at different positions).

A batch is first applied pipelined, without a round trip per statement; when one of its events cannot be
applied, the transaction is rolled back and the batch redone event by event, each in a savepoint (and, for the
event that fails, each read model in its own), so that the event goes to the dead letters of the read models
that cannot apply it, alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg
import structlog
from psycopg import AsyncConnection

from schemas.envelope import Event
from services.projector.checkpoints import lock_checkpoints, save_checkpoints
from services.projector.dead_letters import record_dead_letter
from services.projector.messages import StreamMessage
from services.projector.ordering import NextInStream, plan
from services.projector.partition import WHOLE_STREAM, Partition
from services.projector.processed import first_time, first_times
from services.projector.projection import Position, ReadModel

log = structlog.get_logger(__name__)

# Errors that say nothing about the event: the database is down, busy or shutting down. Retry, never skip.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.TransactionRollback,
    psycopg.errors.QueryCanceled,
    psycopg.errors.LockNotAvailable,
)

DUPLICATE = "duplicate"  # apply_one's answer for an event id applied before


@dataclass(frozen=True)
class BatchResult:
    applied: int  # events handed to the read models
    skipped: int  # at or below the checkpoint, or an event id applied before
    dead_letters: dict[str, int]  # by read model
    deferred: int
    checkpoint: int  # every message at or below it is done: acknowledge those, NAK the rest

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())


@dataclass
class _Outcome:
    applied: int = 0
    duplicates: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)

    async def dead_letter(self, conn: AsyncConnection[Any], projection: str, message: StreamMessage, why: str) -> None:
        await record_dead_letter(conn, projection, message, why)
        self.dead_letters[projection] = self.dead_letters.get(projection, 0) + 1


@dataclass(frozen=True)
class _Member:
    projection: ReadModel
    checkpoint: int  # it has applied everything up to here already

    def wants(self, message: StreamMessage) -> bool:
        return message.seq > self.checkpoint


class _UnapplicableEvent(Exception):
    """An event of a pipelined batch failed: redo the batch event by event to find and dead-letter it."""


Finish = Callable[[], Awaitable[None]]  # moves the checkpoints, once the rows are written
Strategy = Callable[[AsyncConnection[Any], Sequence[_Member], Sequence[StreamMessage], Finish], Awaitable[_Outcome]]


async def apply_batch(
    conn: AsyncConnection[Any],
    projections: Sequence[ReadModel],
    messages: Sequence[StreamMessage],
    next_in_stream: NextInStream,
    partition: Partition = WHOLE_STREAM,
) -> BatchResult:
    """`messages` are of `partition` of the stream, and `next_in_stream` looks among that partition's events."""
    try:
        async with conn.transaction():
            return await _apply(conn, projections, messages, next_in_stream, partition, _pipelined)
    except _UnapplicableEvent as exc:
        log.info("redoing a batch event by event", error=repr(exc.__cause__))
    async with conn.transaction():
        return await _apply(conn, projections, messages, next_in_stream, partition, _one_by_one)


async def _apply(
    conn: AsyncConnection[Any],
    projections: Sequence[ReadModel],
    messages: Sequence[StreamMessage],
    next_in_stream: NextInStream,
    partition: Partition,
    strategy: Strategy,
) -> BatchResult:
    names = [p.name for p in projections]
    checkpoints = await lock_checkpoints(conn, names, partition)
    low = min(checkpoints.values())
    batch = await plan(messages, low, next_in_stream)
    members = [_Member(p, checkpoints[p.name]) for p in projections]
    checkpoint = batch.todo[-1].seq if batch.todo else low
    outcome = await strategy(conn, members, batch.todo, partial(save_checkpoints, conn, names, checkpoint, partition))
    return BatchResult(
        applied=outcome.applied,
        skipped=batch.skipped + outcome.duplicates,
        dead_letters=outcome.dead_letters,
        deferred=batch.deferred,
        checkpoint=checkpoint,
    )


async def _decoded(
    conn: AsyncConnection[Any], members: Sequence[_Member], todo: Sequence[StreamMessage], outcome: _Outcome
) -> list[tuple[StreamMessage, Event[Any]]]:
    """The events of `todo` whose id is applied here for the first time; the undecodable go to dead letters."""
    decoded: list[tuple[StreamMessage, Event[Any]]] = []
    for message in todo:
        event = message.event
        if isinstance(event, str):
            for member in members:
                if member.wants(message):
                    await outcome.dead_letter(conn, member.projection.name, message, event)
        else:
            decoded.append((message, event))
    fresh = await first_times(conn, [(event.event_id, m.seq) for m, event in decoded])
    outcome.duplicates = len(decoded) - len(fresh)
    return [(m, event) for m, event in decoded if m.seq in fresh]


def _past(positioned: list[tuple[Event[Any], Position]], checkpoint: int) -> list[tuple[Event[Any], Position]]:
    """The events after a read model's checkpoint. They are in stream order: every one of them, unless the read
    model is ahead of the group's lowest checkpoint (rare), without a look at each for each read model."""
    if not positioned or positioned[0][1].seq > checkpoint:
        return positioned
    return [(event, pos) for event, pos in positioned if pos.seq > checkpoint]


async def _pipelined(
    conn: AsyncConnection[Any], members: Sequence[_Member], todo: Sequence[StreamMessage], finish: Finish
) -> _Outcome:
    outcome = _Outcome()
    fresh = await _decoded(conn, members, todo, outcome)
    try:
        async with conn.pipeline():
            positioned = [(event, m.position) for m, event in fresh]
            # Read models write tables of their own, and read only their own: every read first, then every write.
            # A read in a pipeline waits for every statement sent before it; this way none waits for a write, and
            # PostgreSQL runs the first write (event_log's, the largest) while the later ones are being built.
            writes = [await member.projection.prepare(conn, _past(positioned, member.checkpoint)) for member in members]
            for write in writes:
                await write()
            # In the same round trip as the writes. Should it fail for a reason other than a transient one, the
            # batch is redone event by event, where it fails again and raises.
            await finish()
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        raise _UnapplicableEvent from exc
    outcome.applied = len(fresh)
    return outcome


async def _one_by_one(
    conn: AsyncConnection[Any], members: Sequence[_Member], todo: Sequence[StreamMessage], finish: Finish
) -> _Outcome:
    outcome = _Outcome()
    for message, event in await _decoded(conn, members, todo, outcome):
        wanting = [m.projection for m in members if m.wants(message)]
        if await _in_savepoint(conn, wanting, event, message.position) is not None:
            for projection in wanting:  # find which of them cannot apply it
                error = await _in_savepoint(conn, [projection], event, message.position)
                if error is not None:
                    await outcome.dead_letter(conn, projection.name, message, error)
        outcome.applied += 1
    await finish()
    return outcome


async def _in_savepoint(
    conn: AsyncConnection[Any], projections: Sequence[ReadModel], event: Event[Any], position: Position
) -> str | None:
    """Apply the event to these read models in a savepoint; None when it was, else why not (nothing written)."""
    try:
        async with conn.transaction():  # a savepoint: a failed event leaves the batch's other rows intact
            for projection in projections:
                await projection.apply(conn, event, position)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # the event itself cannot be applied: the caller records it and moves on
        log.warning("event cannot be applied", error=repr(exc), event_type=event.type, seq=position.seq,
                    projections=[p.name for p in projections])  # fmt: skip
        return f"unapplicable: {exc!r}"
    return None


async def apply_one(conn: AsyncConnection[Any], projection: ReadModel, message: StreamMessage) -> str | None:
    """Apply one event to one read model (an operator's retry of a dead letter); returns why it cannot be
    applied, DUPLICATE, or None when it was."""
    event = message.event
    if isinstance(event, str):
        return event
    if not await first_time(conn, event.event_id, message.seq):
        log.info("event id applied before; skipped", event_id=str(event.event_id), seq=message.seq)
        return DUPLICATE
    return await _in_savepoint(conn, [projection], event, message.position)
