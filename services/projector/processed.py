"""Dedupe by event id: each projection applies an event id once, however often the stream holds it.

JetStream drops a repeated `Nats-Msg-Id` only inside its duplicate window; a client retry after it stores the
event again under a new sequence. The id is recorded in the same transaction as the rows, so every read model,
whatever its handlers do, sees the event once.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import tuple_row


async def first_times(conn: AsyncConnection[Any], projection: str, events: Sequence[tuple[UUID, int]]) -> set[int]:
    """Record that `projection` applies these (event id, stream sequence) pairs, in one statement; returns the
    sequences whose event id it had not applied before (for an id repeated in `events`, its first sequence)."""
    if not events:
        return set()
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            """
            INSERT INTO processed_events (projection, event_id, stream_seq)
            SELECT %s, t.event_id, t.stream_seq
            FROM unnest(%s::uuid[], %s::bigint[]) AS t(event_id, stream_seq)
            ORDER BY t.stream_seq
            ON CONFLICT DO NOTHING
            RETURNING stream_seq
            """,
            (projection, [event_id for event_id, _ in events], [seq for _, seq in events]),
        )
        return {int(row[0]) for row in await cur.fetchall()}


async def first_time(conn: AsyncConnection[Any], projection: str, event_id: UUID, seq: int) -> bool:
    """Record that `projection` applies `event_id`; False when it already did (at an earlier sequence)."""
    return seq in await first_times(conn, projection, [(event_id, seq)])
