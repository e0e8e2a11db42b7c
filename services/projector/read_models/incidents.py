"""`incidents`: one row per incident with its title, status, counts by type, time span and last position.

A batch is folded onto the stored rows of its incidents by the domain's `fold`, the same rule an `as_of` read
folds with: one read and one write per batch.
"""

from collections.abc import AsyncIterator, Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from schemas.envelope import Event
from services.domain.incidents import Incident, fold
from services.projector.projection import Position, Projection, json_rows

incidents = Projection("incidents", tables=("incidents",))


@incidents.on_every_batch
async def fold_events(conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]) -> AsyncIterator[None]:
    ids = sorted({event.incident_id for event, _ in events})
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute("SELECT * FROM incidents WHERE incident_id = ANY(%s) ORDER BY incident_id FOR UPDATE", (ids,))
        stored = {incident.incident_id: incident for incident in await cur.fetchall()}
    yield  # read: the rest writes
    states = fold(((pos.seq, event) for event, pos in events), stored)
    rows = [
        {
            "incident_id": i.incident_id,
            "title": i.title,
            "status": i.status,
            "description": i.description,
            "merged_into": i.merged_into,
            "event_count": i.event_count,
            "counts_by_type": i.counts_by_type,
            "first_occurred_at": i.first_occurred_at,
            "last_occurred_at": i.last_occurred_at,
            "last_position": i.last_position,
            "updated_at": i.updated_at,
        }
        for i in states.values()
    ]
    # One statement for the batch's incidents (the rows as one JSON document), not one adapted row each.
    await conn.execute(
        """
        INSERT INTO incidents (incident_id, title, status, description, merged_into, event_count, counts_by_type,
                               first_occurred_at, last_occurred_at, last_position, updated_at)
        SELECT * FROM jsonb_to_recordset(%s::jsonb)
            AS r(incident_id text, title text, status text, description text, merged_into text, event_count int,
                 counts_by_type jsonb, first_occurred_at timestamptz, last_occurred_at timestamptz,
                 last_position bigint, updated_at timestamptz)
        ON CONFLICT (incident_id) DO UPDATE SET
            title = EXCLUDED.title, status = EXCLUDED.status, description = EXCLUDED.description,
            merged_into = EXCLUDED.merged_into, event_count = EXCLUDED.event_count,
            counts_by_type = EXCLUDED.counts_by_type, first_occurred_at = EXCLUDED.first_occurred_at,
            last_occurred_at = EXCLUDED.last_occurred_at, last_position = EXCLUDED.last_position,
            updated_at = EXCLUDED.updated_at
        """,
        (json_rows(rows),),
    )
