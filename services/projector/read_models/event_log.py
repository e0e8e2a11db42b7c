"""`event_log`: every event with its stream position, envelope and payload; the timeline reads it."""

from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection

from schemas.envelope import Event
from services.common.database import TIMELINE_CHANNEL
from services.projector.projection import Position, Projection, json_row, json_rows, nested_json

event_log = Projection("event_log", tables=("event_log",), write_only=("event_log",))


@event_log.of_each_event
def _row(event: Event[Any], pos: Position) -> orjson.Fragment:
    """The event's row, encoded: most of the read model's work, done while the batch before is written."""
    return json_row(
        {
            "stream_seq": pos.seq,
            "event_id": event.event_id,
            "subject": pos.subject,
            "type": event.type,
            "schema_version": event.schema_version,
            "incident_id": event.incident_id,
            "occurred_at": event.occurred_at,
            "reported_at": event.reported_at,
            "recorded_at": event.recorded_at,
            "source_name": event.source.name,
            "source_kind": event.source.kind.value,
            "correlation_id": event.correlation_id,
            "envelope": nested_json(event),
        }
    )


@event_log.on_every_batch
async def append_to_log(conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]) -> None:
    """One INSERT for the batch, its rows sent as one JSON document, the envelope nested in it as pydantic encodes
    it. ON CONFLICT: the same event id published twice (a retry after the duplicate window) is logged once."""
    rows = json_rows([_row(event, pos) for event, pos in events])
    await conn.execute(
        """
        INSERT INTO event_log (stream_seq, event_id, subject, type, schema_version, incident_id, occurred_at,
                               reported_at, recorded_at, source_name, source_kind, correlation_id, envelope)
        SELECT * FROM jsonb_to_recordset(%s::jsonb)
            AS r(stream_seq bigint, event_id uuid, subject text, type text, schema_version int, incident_id text,
                 occurred_at timestamptz, reported_at timestamptz, recorded_at timestamptz, source_name text,
                 source_kind text, correlation_id text, envelope jsonb)
        ON CONFLICT (event_id) DO NOTHING
        """,
        (rows,),
    )
    # For the live feed: PostgreSQL delivers a NOTIFY when (and only if) this transaction commits.
    await conn.execute(
        "SELECT pg_notify(%s, incident) FROM unnest(%b::text[]) AS incident",
        (TIMELINE_CHANNEL, sorted({event.incident_id for event, _ in events})),
    )
