"""`incidents`: one row per incident with its title, status, counts by type, time span and last position.

Each event is folded onto the stored row by the domain's `evolve`, the same rule an `as_of` read folds with.
"""

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from schemas.envelope import Event
from services.domain.incidents import Incident, evolve
from services.projector.projection import Position, Projection

incidents = Projection("incidents", tables=("incidents",))


@incidents.on_every_event
async def fold_event(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute("SELECT * FROM incidents WHERE incident_id = %s FOR UPDATE", (event.incident_id,))
        state = evolve(await cur.fetchone(), event, pos.seq)
    await conn.execute(
        """
        INSERT INTO incidents (incident_id, title, status, description, merged_into, event_count, counts_by_type,
                               first_occurred_at, last_occurred_at, last_position, updated_at)
        VALUES (%(incident_id)s, %(title)s, %(status)s, %(description)s, %(merged_into)s, %(event_count)s,
                %(counts_by_type)s, %(first_occurred_at)s, %(last_occurred_at)s, %(last_position)s, %(updated_at)s)
        ON CONFLICT (incident_id) DO UPDATE SET
            title = EXCLUDED.title, status = EXCLUDED.status, description = EXCLUDED.description,
            merged_into = EXCLUDED.merged_into, event_count = EXCLUDED.event_count,
            counts_by_type = EXCLUDED.counts_by_type, first_occurred_at = EXCLUDED.first_occurred_at,
            last_occurred_at = EXCLUDED.last_occurred_at, last_position = EXCLUDED.last_position,
            updated_at = EXCLUDED.updated_at
        """,
        state.model_dump() | {"counts_by_type": Jsonb(state.counts_by_type)},
    )
