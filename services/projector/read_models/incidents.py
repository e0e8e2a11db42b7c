"""`incidents`: one row per incident with its title, status, counts by type, time span and last position."""

from typing import Any

from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.events.incidents import IncidentMerged, IncidentOpened, IncidentUpdated
from services.projector.projection import Position, Projection

incidents = Projection("incidents", tables=("incidents",))


@incidents.on_every_event
async def count_event(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    await conn.execute(
        """
        INSERT INTO incidents (incident_id, event_count, counts_by_type, first_occurred_at, last_occurred_at,
                               last_position, updated_at)
        VALUES (%(id)s, 1, jsonb_build_object(%(type)s::text, 1), %(at)s, %(at)s, %(seq)s, %(recorded)s)
        ON CONFLICT (incident_id) DO UPDATE SET
            event_count = incidents.event_count + 1,
            counts_by_type = incidents.counts_by_type || jsonb_build_object(
                %(type)s::text, COALESCE((incidents.counts_by_type ->> %(type)s)::int, 0) + 1),
            first_occurred_at = LEAST(incidents.first_occurred_at, EXCLUDED.first_occurred_at),
            last_occurred_at = GREATEST(incidents.last_occurred_at, EXCLUDED.last_occurred_at),
            last_position = EXCLUDED.last_position,
            updated_at = EXCLUDED.updated_at
        """,
        {
            "id": event.incident_id,
            "type": event.type,
            "at": event.occurred_at,
            "seq": pos.seq,
            "recorded": event.recorded_at,
        },
    )


@incidents.on(IncidentOpened)
async def set_title_and_status(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    opened: IncidentOpened = event.data
    await conn.execute(
        "UPDATE incidents SET title = %s, status = %s, description = %s WHERE incident_id = %s",
        (opened.title, opened.status.value, opened.description, event.incident_id),
    )


@incidents.on(IncidentUpdated)
async def update_title_and_status(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    updated: IncidentUpdated = event.data
    await conn.execute(
        """
        UPDATE incidents SET title = COALESCE(%s, title), status = COALESCE(%s, status),
                             description = COALESCE(%s, description)
        WHERE incident_id = %s
        """,
        (updated.title, updated.status.value if updated.status else None, updated.description, event.incident_id),
    )


@incidents.on(IncidentMerged)
async def mark_merged(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    merged: IncidentMerged = event.data
    await conn.execute("UPDATE incidents SET merged_into = %s WHERE incident_id = %s", (merged.into, event.incident_id))
