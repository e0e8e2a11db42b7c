"""The incident's events for the map and the CSV export, as recorded by `as_of`, in the order they happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import class_row
from pydantic import BaseModel

from services.common.database import DictConnection
from services.query.as_of import AS_OF


class ExportRow(BaseModel):
    position: int
    event_id: UUID
    type: str
    occurred_at: datetime
    occurred_precision: str
    reported_at: datetime | None
    recorded_at: datetime
    source: dict[str, Any]
    location: dict[str, Any] | None
    data: dict[str, Any]
    verification: str


async def events(
    conn: DictConnection, incident_id: str, as_of: datetime | None, *, located_only: bool
) -> list[ExportRow]:
    query = sql.SQL(
        """
        SELECT stream_seq AS position, event_id, type, occurred_at, envelope ->> 'occurred_precision'
               AS occurred_precision, reported_at, recorded_at, envelope -> 'source' AS source,
               envelope -> 'location' AS location, envelope -> 'data' AS data,
               verification_as_of(event_id, {as_of}) AS verification
        FROM event_log
        WHERE incident_id = %(incident_id)s AND recorded_at <= {as_of} {located}
        ORDER BY occurred_at, stream_seq
        """
    ).format(
        as_of=sql.SQL(AS_OF),
        located=sql.SQL("AND envelope -> 'location' ->> 'lat' IS NOT NULL" if located_only else ""),
    )
    async with conn.cursor(row_factory=class_row(ExportRow)) as cur:
        await cur.execute(query, {"incident_id": incident_id, "as_of": as_of})
        return await cur.fetchall()
