"""Dedupe by event id: each projection applies an event id once, however often the stream holds it.

JetStream drops a repeated `Nats-Msg-Id` only inside its duplicate window; a client retry after it stores the
event again under a new sequence. The id is recorded in the same transaction as the rows, so every read model,
whatever its handlers do, sees the event once.
"""

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection


async def first_time(conn: AsyncConnection[Any], projection: str, event_id: UUID, seq: int) -> bool:
    """Record that `projection` applies `event_id`; False when it already did (at an earlier sequence)."""
    cur = await conn.execute(
        "INSERT INTO processed_events (projection, event_id, stream_seq) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (projection, event_id, seq),
    )
    return cur.rowcount == 1
