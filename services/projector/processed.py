"""Dedupe by event id: an event id is applied once, however often the stream holds it.

JetStream drops a repeated `Nats-Msg-Id` only inside its duplicate window; a client retry after it stores the
event again under a new sequence. The first sequence that held each id is recorded in the same transaction as
the rows: one record per event, shared by every read model (however they are grouped or partitioned), so the
table grows by one row per event, not one per read model.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import tuple_row


async def first_times(conn: AsyncConnection[Any], events: Sequence[tuple[UUID, int]]) -> set[int]:
    """Record these (event id, stream sequence) pairs in one statement; returns the sequences that are an id's
    first: new ids (for an id repeated in `events`, its lowest sequence), and ids recorded at this very sequence
    before (a redelivery, or another group of read models that got there first)."""
    if not events:
        return set()
    async with conn.cursor(row_factory=tuple_row) as cur:
        # Both SELECTs see the table as it was before this statement's INSERT: no row is counted twice.
        await cur.execute(
            """
            WITH batch AS (SELECT * FROM unnest(%b::uuid[], %b::bigint[]) AS t(event_id, stream_seq)),
            inserted AS (
                INSERT INTO processed_events (event_id, stream_seq)
                SELECT event_id, min(stream_seq) FROM batch GROUP BY event_id
                ON CONFLICT DO NOTHING
                RETURNING stream_seq
            )
            SELECT stream_seq FROM inserted
            UNION ALL
            SELECT p.stream_seq FROM processed_events p JOIN batch b USING (event_id, stream_seq)
            """,
            ([event_id for event_id, _ in events], [seq for _, seq in events]),
        )
        return {int(row[0]) for row in await cur.fetchall()}


async def first_time(conn: AsyncConnection[Any], event_id: UUID, seq: int) -> bool:
    """Record `event_id` at `seq`; False when it was first held at another sequence (a duplicate)."""
    return seq in await first_times(conn, [(event_id, seq)])
