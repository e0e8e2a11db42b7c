"""`event_log`: every event with its stream position, envelope and payload; the timeline reads it."""

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from schemas.envelope import Event
from services.common.database import TIMELINE_CHANNEL
from services.projector.projection import Position, Projection

event_log = Projection("event_log", tables=("event_log",))


@event_log.on_every_event
async def append_to_log(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    # ON CONFLICT: the same event id published twice (a retry after the duplicate window) is logged once.
    await conn.execute(
        """
        INSERT INTO event_log (stream_seq, event_id, subject, type, schema_version, incident_id, occurred_at,
                               reported_at, recorded_at, source_name, source_kind, correlation_id, envelope)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (event_id) DO NOTHING
        """,
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
            Jsonb(event.model_dump(mode="json")),
        ),
    )
    # For the live feed: PostgreSQL delivers a NOTIFY when (and only if) this transaction commits.
    await conn.execute("SELECT pg_notify(%s, %s)", (TIMELINE_CHANNEL, event.incident_id))
