"""`event_log`: every event with its stream position, envelope and payload; the timeline reads it."""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from schemas.envelope import Event
from services.common.database import TIMELINE_CHANNEL
from services.projector.projection import Position, Projection, columns

event_log = Projection("event_log", tables=("event_log",))


@event_log.on_every_batch
async def append_to_log(conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]) -> None:
    """One INSERT for the batch (arrays sent binary: psycopg escapes text arrays element by element). ON
    CONFLICT: the same event id published twice (a retry after the duplicate window) is logged once."""
    rows = [
        (
            pos.seq,
            event.event_id,
            pos.subject,
            event.type,
            event.schema_version,
            event.incident_id,
            event.occurred_at,
            event.reported_at,
            event.recorded_at,
            event.source.name,
            event.source.kind.value,
            event.correlation_id,
            event.model_dump_json(),
        )
        for event, pos in events
    ]
    await conn.execute(
        """
        INSERT INTO event_log (stream_seq, event_id, subject, type, schema_version, incident_id, occurred_at,
                               reported_at, recorded_at, source_name, source_kind, correlation_id, envelope)
        SELECT * FROM unnest(%b::bigint[], %b::uuid[], %b::text[], %b::text[], %b::int[], %b::text[],
                             %b::timestamptz[], %b::timestamptz[], %b::timestamptz[], %b::text[], %b::text[],
                             %b::text[], %b::text[]::jsonb[])
        ON CONFLICT (event_id) DO NOTHING
        """,
        columns(rows),
    )
    # For the live feed: PostgreSQL delivers a NOTIFY when (and only if) this transaction commits.
    await conn.execute(
        "SELECT pg_notify(%s, incident) FROM unnest(%b::text[]) AS incident",
        (TIMELINE_CHANNEL, sorted({event.incident_id for event, _ in events})),
    )
